//! `render`: the tree and its manifest, written atomically.

use super::{Failure, SecretPolicy, load_spec, rendered};
use crate::cli::RenderArgs;
use crate::write::write_tree;

pub(super) fn render(args: &RenderArgs) -> Result<u8, Failure> {
    let (_, loaded) = load_spec(&args.spec).map_err(|failure| match failure {
        Failure::Invalid(source, invalid) => Failure::NotRendered(source, invalid),
        other => other,
    })?;
    let policy = if args.with_secrets {
        SecretPolicy::Resolve
    } else {
        SecretPolicy::Placeholders
    };
    let tree = rendered(&loaded, &args.selection, policy)?;
    let report = write_tree(&tree, &args.out).map_err(Failure::Write)?;
    let hosts = {
        let mut names: Vec<&str> = tree.files.iter().map(|f| f.host.as_str()).collect();
        names.dedup();
        names.len()
    };
    outln!(
        "wrote {} files for {hosts} hosts and manifest.json to {}",
        report.written,
        args.out.display()
    );
    for stale in &report.stale {
        eprintln!(
            "stale: {}/{}{} is no longer rendered; remove it if it is yours",
            args.out.display(),
            stale.host,
            stale.path
        );
    }
    Ok(0)
}
