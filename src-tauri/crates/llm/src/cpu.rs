//! The build's CPU baseline. candle picks its quantized kernels at compile time, and Closer is
//! built for x86-64-v3 (AVX2 + FMA, `.cargo/config.toml`): without them the model decodes at half
//! speed. A CPU that lacks what the build assumes gets a clear error instead of a crash.

use crate::LlmError;

/// Whether this CPU runs what this build was compiled for.
pub fn check() -> Result<(), LlmError> {
    #[cfg(target_arch = "x86_64")]
    {
        let needs_avx2 = cfg!(target_feature = "avx2");
        let has = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if needs_avx2 && !has {
            return Err(LlmError::CpuUnsupported);
        }
    }
    Ok(())
}

/// The environment variable candle (and rayon) read for the number of compute threads.
pub const THREADS_ENV: &str = "RAYON_NUM_THREADS";

/// Fixes the number of compute threads for the process: `threads`, else what
/// `RAYON_NUM_THREADS` already says, else the cores available. candle asks for this number on
/// every matrix product, and without the variable set it re-reads `/proc/cpuinfo` each time
/// (about 0.1 ms, several milliseconds a decoded token); with it set the answer is one `getenv`.
///
/// Call it first thing in `main`, before any other thread exists (it writes the environment).
pub fn pin_threads(threads: Option<usize>) -> usize {
    let current = std::env::var(THREADS_ENV).ok().and_then(|v| v.parse::<usize>().ok());
    let n = threads
        .or(current)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if current != Some(n) {
        #[allow(unsafe_code)]
        // SAFETY: documented precondition — called from `main` before other threads start, so
        // nothing reads the environment concurrently.
        unsafe {
            std::env::set_var(THREADS_ENV, n.to_string())
        };
    }
    n
}

/// Whether candle picks its repacked int8 kernels on this CPU (as its
/// `quantized::repack_x86::level` decides, including its `MISTRALRS_FORCE_AVX2` override).
pub fn has_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        if std::env::var("MISTRALRS_FORCE_AVX2").as_deref() == Ok("1") {
            return false;
        }
        (std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vnni"))
            || (std::arch::is_x86_feature_detected!("avxvnni")
                && std::arch::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// One line for logs and `closer bench`: what the build uses and what the CPU offers.
pub fn describe() -> String {
    let built = if candle_core::utils::with_avx() { "AVX2 kernels" } else { "portable kernels" };
    // candle also picks 512-bit repacked kernels at run time for some tensor shapes when the
    // CPU reports AVX-512 VNNI, whatever the compile-time baseline.
    #[cfg(target_arch = "x86_64")]
    let cpu = format!(
        "avx2={} fma={} avx512f={} avx512vnni={}",
        std::arch::is_x86_feature_detected!("avx2"),
        std::arch::is_x86_feature_detected!("fma"),
        std::arch::is_x86_feature_detected!("avx512f"),
        std::arch::is_x86_feature_detected!("avx512vnni")
    );
    #[cfg(not(target_arch = "x86_64"))]
    let cpu = String::from("non-x86");
    let q8_0 = match crate::decoder::Kernels::detect() {
        crate::decoder::Kernels::Packed => "Q8_0, Q4_K and Q6_K by Closer's AVX-512 VNNI kernels",
        crate::decoder::Kernels::Vnni => "Q8_0 padded for candle's VNNI kernels",
        crate::decoder::Kernels::Stored => "Q8_0 by candle's kernels as stored",
    };
    format!("{built}; {q8_0}; CPU {cpu}; {} threads", candle_core::utils::get_num_threads())
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_runs_this_build() {
        super::check().expect("the CI machine has AVX2");
        assert!(super::describe().contains("AVX2 kernels"), "{}", super::describe());
    }
}
