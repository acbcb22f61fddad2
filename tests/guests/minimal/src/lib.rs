//! The smallest `wasi:http` handler we can build in Rust: `#![no_std]`, no wasi-libc, no std
//! I/O, so the component imports only the handful of `wasi:http/types` and `wasi:io/streams`
//! functions it calls. It answers every request with 200 and a 25-byte JSON body. The
//! sandbox bench runs it next to the fixture to show what a request costs when instantiation
//! has almost nothing to link (`shared/notes/wasmtime-wasi-http.md` measured 16 µs for such a
//! component).

#![no_std]

extern crate alloc;

use core::{
    alloc::{GlobalAlloc, Layout},
    sync::atomic::{AtomicUsize, Ordering},
};

use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(Minimal);

/// The response body.
const BODY: &[u8] = br#"{"hello":"from minimal"}"#;

struct Minimal;

impl wasip2::exports::http::incoming_handler::Guest for Minimal {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let response = OutgoingResponse::new(Fields::new());
        let body = response.body().expect("body once");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("stream once");
        stream.blocking_write_and_flush(BODY).expect("write body");
        drop(stream);
        OutgoingBody::finish(body, None).expect("finish body");
    }
}

/// Wasm page size.
const PAGE: usize = 64 << 10;

/// A bump allocator that never frees: every request runs in a fresh instance, so nothing
/// lives long enough for reuse to matter. Fresh pages come from `memory.grow`, above
/// everything the linker laid out.
struct Bump {
    next: AtomicUsize,
    end: AtomicUsize,
}

#[global_allocator]
static ALLOCATOR: Bump = Bump { next: AtomicUsize::new(0), end: AtomicUsize::new(0) };

// SAFETY: hands out disjoint, aligned ranges of grown memory, or null when memory cannot grow.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let aligned = |at: usize| (at + layout.align() - 1) & !(layout.align() - 1);
        // A component runs single-threaded: relaxed atomics are plain loads and stores.
        let mut start = aligned(self.next.load(Ordering::Relaxed));
        let end = self.end.load(Ordering::Relaxed);
        if end == 0 || start.checked_add(layout.size()).is_none_or(|stop| stop > end) {
            // Fresh pages; the rest of the current ones is abandoned.
            let pages = (layout.size() + layout.align()).div_ceil(PAGE);
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                return core::ptr::null_mut();
            }
            start = aligned(old * PAGE);
            self.end.store((old + pages) * PAGE, Ordering::Relaxed);
        }
        self.next.store(start + layout.size(), Ordering::Relaxed);
        start as *mut u8
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

/// The canonical ABI's allocation entry point, through which the host writes strings and lists
/// into guest memory (std builds get it from wasi-libc).
///
/// # Safety
///
/// As [`GlobalAlloc::realloc`] when `old_len` is not 0; the host calls it as the ABI says.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old_ptr: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if new_len == 0 {
        return align as *mut u8;
    }
    // SAFETY: the host passes a power-of-two alignment and, when resizing, a block it got from
    // here with that size and alignment.
    let ptr = unsafe {
        if old_len == 0 {
            alloc::alloc::alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            let old = Layout::from_size_align_unchecked(old_len, align);
            alloc::alloc::realloc(old_ptr, old, new_len)
        }
    };
    if ptr.is_null() {
        core::arch::wasm32::unreachable();
    }
    ptr
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}
