use super::entry::{Entry, FinishedDir};

/// Something that looks at every entry of a walk.
///
/// The walk runs on several threads and gives each worker thread its own visitor (made by the
/// factory passed to [`crate::scan::Scanner::scan_with`]), so `visit` needs no locking. When the
/// walk ends the per-thread visitors are combined with [`Visitor::merge`]. Several visitors
/// share one walk as a tuple: `(A, B)` is a visitor when `A` and `B` are.
pub trait Visitor: Send {
    /// Called once for every entry, roots included, in no particular order.
    fn visit(&mut self, entry: &Entry<'_>);

    /// Called once for every directory whose whole subtree has been walked, after all of its
    /// entries, with its cumulative size. Not called for directories a cancelled walk left
    /// unfinished.
    fn finish_dir(&mut self, _dir: &FinishedDir<'_>) {}

    /// Fold another worker's visitor into this one.
    fn merge(&mut self, other: Self)
    where
        Self: Sized;
}

impl Visitor for () {
    fn visit(&mut self, _entry: &Entry<'_>) {}

    fn merge(&mut self, _other: Self) {}
}

macro_rules! tuple_visitor {
    ($($name:ident . $index:tt),+) => {
        impl<$($name: Visitor),+> Visitor for ($($name,)+) {
            fn visit(&mut self, entry: &Entry<'_>) {
                $(self.$index.visit(entry);)+
            }

            fn finish_dir(&mut self, dir: &FinishedDir<'_>) {
                $(self.$index.finish_dir(dir);)+
            }

            fn merge(&mut self, other: Self) {
                $(self.$index.merge(other.$index);)+
            }
        }
    };
}

tuple_visitor!(A.0, B.1);
tuple_visitor!(A.0, B.1, C.2);
tuple_visitor!(A.0, B.1, C.2, D.3);
