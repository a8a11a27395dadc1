import { EXIT } from '../../core/errors.js';
import { type GlobalOptions, loadFor, runMigrations } from '../context.js';
import { type Io, println } from '../io.js';

export async function migrateCommand(io: Io, options: GlobalOptions): Promise<number> {
  const loaded = await loadFor(io, options);
  const result = await runMigrations(loaded);
  if (result.applied.length === 0) {
    println(io.stdout, `schema is up to date (migration ${result.current})`);
  } else {
    for (const m of result.applied)
      println(io.stdout, `applied ${String(m.version).padStart(4, '0')}_${m.name}`);
    println(io.stdout, `schema is at migration ${result.current}`);
  }
  return EXIT.OK;
}
