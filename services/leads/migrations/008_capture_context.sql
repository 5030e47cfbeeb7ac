-- The context of a capture (a form's utm_* / page / referrer fields, Typeform's hidden fields),
-- as the gateway sent it in lead.captured.context_json; shown on the "captured" timeline entry.
ALTER TABLE lead_activities ADD COLUMN context jsonb;
