//! Giving freed heap memory back to the system. glibc keeps what a burst of work freed (a
//! package inventory built on a blocking thread, a large upload) in its arenas, so a
//! long-running process's RSS stays at its peak; the agent calls this after its heavy samples,
//! the server after large requests. A crate of its own because it is the one `unsafe` call
//! they share, and `spectra-core` forbids `unsafe`.

/// Returns the allocator's free memory to the system (glibc's `malloc_trim`, every arena);
/// does nothing with other allocators. Cheap when little is free.
pub fn release_free_memory() {
    trim();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() {
    // SAFETY: malloc_trim only returns free memory of the process's own heap to the system;
    // it takes no pointers and glibc serialises it with the allocator's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
