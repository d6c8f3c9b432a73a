//! Fuzz target: any bytes as a spec through read, validate, check, plan and render. A panic, a
//! hang or a crash is a bug; refusing the input is the expected answer to most of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sitewright::load::load;
use sitewright::plan::plan;
use sitewright::render::{Renderer, Secrets};
use sitewright::source::Source;
use sitewright::templates::Overrides;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = Source::from_bytes("fuzz.yaml", data.to_vec()) else {
        return;
    };
    if let Ok(loaded) = load(&source) {
        let plan = plan(&loaded.site);
        let _ = Renderer::new(&Overrides::default()).render(&plan, &Secrets::none());
    }
});
