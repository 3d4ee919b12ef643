-- When each console account's password was last set: an account that needs a second
-- factor may enrol one with its password alone only for `console.enrolment_window_hours`
-- from then. Accounts that exist at the upgrade get the upgrade's time, so the window
-- starts now for them rather than having passed.
ALTER TABLE console_users ADD COLUMN password_set_at INTEGER NOT NULL DEFAULT 0;
UPDATE console_users SET password_set_at = CAST(strftime('%s', 'now') AS INTEGER);
