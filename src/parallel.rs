//! Work split across the machine's cores: a site's hosts are independent once the spec is checked,
//! so planning and rendering them in parallel shortens a large site's run.

use std::num::NonZeroUsize;
use std::thread;

/// Below this many items a thread costs more than it saves.
const MIN_SHARE: usize = 16;

/// `work` applied to each item, in the items' order, with the items cut into one contiguous share
/// per core.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let cores = thread::available_parallelism().map_or(1, NonZeroUsize::get);
    let shares = cores.min(items.len() / MIN_SHARE).max(1);
    if shares == 1 {
        return items.iter().map(work).collect();
    }
    let size = items.len().div_ceil(shares);
    let work = &work;
    thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(size)
            .map(|share| scope.spawn(move || share.iter().map(work).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_of_the_items() {
        for n in [0, 1, 15, 16, 17, 100, 1001] {
            let items: Vec<usize> = (0..n).collect();
            assert_eq!(
                map(&items, |i| i * 2),
                (0..n).map(|i| i * 2).collect::<Vec<_>>()
            );
        }
    }
}
