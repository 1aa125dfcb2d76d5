/*
 * bcryptprimitives.dll for wine prefixes that lack it (Debian's wine 8).
 *
 * Rust's standard library on Windows gets random bytes from ProcessPrng, exported by
 * bcryptprimitives.dll. This one-function DLL exports ProcessPrng and forwards to
 * RtlGenRandom (advapi32's SystemFunction036), which wine has. Built and installed into the
 * test prefix by scripts/windows-tests.sh; never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
