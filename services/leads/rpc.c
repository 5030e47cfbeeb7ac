/* crm-leads request handlers: the /v2 resources (api.c: leads, contacts, lead statuses,
 * timelines; convert.c: lead conversions). */
#include "leads.h"

void leads_rpc_register(leads_t *self)
{
    leads_api_register(self);
    leads_conversions_register(self);
    leads_import_register(self);
    leads_contacts_resolve_register(self);
}
