// Prints the rows of the named tables of a zero-cache replica as JSON: {"table": [{column: value}, ...]}.
// Usage: node read_replica.cjs REPLICA_FILE TABLE... (run from this folder, where npm ci put zero-sqlite3).
// The replica is a SQLite file in wal2 mode, which only zero-cache's own SQLite build reads.
const Database = require("@rocicorp/zero-sqlite3");

const [replicaFile, ...tables] = process.argv.slice(2);
const db = new Database(replicaFile, { readonly: true, fileMustExist: true });
const known = new Set(db.prepare("select name from sqlite_master where type = 'table'").all().map((row) => row.name));
const rows = {};
for (const table of tables) {
  // A table the replica lacks is reported as null, not as empty: the caller tells the two apart.
  rows[table] = known.has(table) ? db.prepare(`select * from "${table.replaceAll('"', '""')}"`).all() : null;
}
db.close();
process.stdout.write(JSON.stringify(rows));
