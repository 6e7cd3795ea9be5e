/* compiler.h: hints for the per-packet path, where a call or a saved register shows up in the
 * instruction count (bench/fastpath). */
#ifndef FW_COMPILER_H
#define FW_COMPILER_H

#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#define NOINLINE      __attribute__((noinline))
#else
#define ALWAYS_INLINE inline
#define NOINLINE
#endif

#endif
