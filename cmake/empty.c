/* Keeps a service core library non-empty while it has only main.c. */
typedef int crm_empty_translation_unit_t;
