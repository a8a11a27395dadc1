-- One row per alert (report, date, kind): the instance whose insert wins sends it, so an alert
-- goes out once however many instances notice the same failure or missed deadline.
CREATE TABLE end_of_day_reporting_alert (
  report TEXT NOT NULL,
  date DATE NOT NULL,
  kind TEXT NOT NULL,
  claimed_by TEXT NOT NULL,
  claimed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  sent_at TIMESTAMPTZ,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  PRIMARY KEY (report, date, kind)
);
