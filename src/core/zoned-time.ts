/** Wall-clock times in IANA zones without a time zone library: Intl gives the offsets. */

// Building a DateTimeFormat costs far more than using one; schedules ask thousands of times.
const formats = new Map<string, Intl.DateTimeFormat>();

function formatFor(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(timeZone, format);
  }
  return format;
}

function offsetMinutes(instant: Date, timeZone: string): number {
  const parts = formatFor(timeZone).formatToParts(instant);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return Math.round((asUtc - Math.floor(instant.getTime() / 1000) * 1000) / 60_000);
}

/**
 * The instant at which the wall clock in `timeZone` shows `date` `time` (HH:MM). A time skipped by
 * a DST change maps to the instant the clocks jump to (e.g. 01:30 on a spring-forward night in
 * London is 02:00 BST); a repeated time maps to its first occurrence.
 */
export function zonedTimeToInstant(date: string, time: string, timeZone: string): Date {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const [hh, mm] = time.split(':').map(Number) as [number, number];
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  // Try the offsets in force a day either side; keep the candidates that really show this wall time.
  const offsets = new Set(
    [-1, 0, 1].map((days) => offsetMinutes(new Date(wall + days * 86_400_000), timeZone)),
  );
  const exact = [...offsets]
    .map((offset) => wall - offset * 60_000)
    .filter((t) => offsetMinutes(new Date(t), timeZone) * 60_000 === wall - t)
    .sort((a, b) => a - b);
  if (exact[0] !== undefined) return new Date(exact[0]);
  // In a gap: the wall clock jumps over this time, so the moment it is reached is the jump itself.
  // Between the two readings of the wall time lies the transition; find its minute.
  const before = offsetMinutes(new Date(wall - 86_400_000), timeZone);
  let low = wall - Math.max(...offsets) * 60_000;
  let high = wall - before * 60_000;
  if (low > high) [low, high] = [high, low];
  while (high - low > 60_000) {
    const mid = low + Math.floor((high - low) / 120_000) * 60_000;
    if (offsetMinutes(new Date(mid), timeZone) === before) low = mid;
    else high = mid;
  }
  return new Date(high);
}

/** The deadline of a report date: `deadline` (HH:MM) local time on the following day. */
export function deadlineOf(date: string, deadline: string, timeZone: string): Date {
  const next = new Date(`${date}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  return zonedTimeToInstant(next.toISOString().slice(0, 10), deadline, timeZone);
}
