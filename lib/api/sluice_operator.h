/*  sluice_operator.h - the operator ABI under its first name, kept so that
    plugins written against it build unchanged; the ABI is sluice/plugin.h.
*/
#ifndef SLUICE_OPERATOR_H_INCLUDED
#define SLUICE_OPERATOR_H_INCLUDED

#include "sluice/plugin.h"

#endif
