/*  fuzz_common.h - what every libFuzzer target shares: a check that aborts
    (so that libFuzzer keeps the input as a crash) when an invariant a
    decoder promises does not hold.
*/
#ifndef SL_FUZZ_COMMON_H_INCLUDED
#define SL_FUZZ_COMMON_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>

//  Not assert(): it must hold in every build type, NDEBUG or not.
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

#endif
