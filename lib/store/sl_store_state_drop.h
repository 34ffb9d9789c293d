/*  sl_store_state_drop.h - drops every key state of one keyed group from
    the store's state table (sl_store_state.h), for `sluice group reset`
    and `sluice group delete` (broker/groups_admin.c).
*/
#ifndef SL_STORE_STATE_DROP_H_INCLUDED
#define SL_STORE_STATE_DROP_H_INCLUDED

#include <stdint.h>

#include "sl_store.h"

//  Removes every entry of group (all its shares' keys and its counter) in
//  the open write transaction, through the journal (a replica drops them
//  too). *dropped gets the number of key states removed. 0, SL_ESTATE
//  without a transaction, SL_ENAME for a bad name, or a store error (the
//  transaction is then aborted).
int sl_store_state_drop (sl_store_t *self, const char *group, uint64_t *dropped);

#endif
