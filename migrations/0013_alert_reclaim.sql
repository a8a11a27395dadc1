-- An alert claimed but never sent (the webhook was down through the retries, or the claiming
-- instance died between claim and send) is claimed again by another instance once its claim is
-- older than monitoring.alertReclaimAfter. Any instance must then be able to send it: the text is
-- kept with the claim. Rows claimed before this migration have no text and are not sent again.
ALTER TABLE end_of_day_reporting_alert ADD COLUMN text TEXT;
CREATE INDEX end_of_day_reporting_alert_unsent ON end_of_day_reporting_alert (claimed_at)
  WHERE sent_at IS NULL;
