-- Reminders (notification kinds task_due and lead_stale, SPEC G1/G2): when crm-leads last
-- announced a task as due (task.due) and a lead as stale (lead.stale). The reminder scan
-- (reminders.c) sets these in the transaction that writes the event into the outbox.
ALTER TABLE tasks ADD COLUMN due_announced_at timestamptz;
ALTER TABLE leads ADD COLUMN stale_announced_at timestamptz;

-- A task whose due date or reminder time moves, or that is reopened, is announced again.
CREATE FUNCTION tasks_reminder_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.due_date IS DISTINCT FROM OLD.due_date OR NEW.remind_at IS DISTINCT FROM OLD.remind_at
       OR (OLD.completed AND NOT NEW.completed) THEN
        NEW.due_announced_at := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER tasks_reminder_reset BEFORE UPDATE ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_reminder_reset();

-- The due scan reads only open, owned, not yet announced tasks, by the time they fall due.
CREATE INDEX tasks_unannounced_idx ON tasks ((coalesce(remind_at, due_date)), id)
    WHERE NOT completed AND due_announced_at IS NULL AND owner_id IS NOT NULL;
