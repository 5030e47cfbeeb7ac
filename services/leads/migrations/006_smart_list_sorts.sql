-- crm-leads: smart lists sorted by last name or company answer their first page from an index
-- (bench/smartlist: without it a sort by last_name scans the whole table).
CREATE INDEX IF NOT EXISTS leads_last_name_idx ON leads (last_name, id);
CREATE INDEX IF NOT EXISTS leads_organization_name_idx ON leads (organization_name, id);
