// A real WatermelonDB 0.28 device (LokiJS adapter, in memory) driven over stdin/stdout.
//
// One JSON command per stdin line ({reqId, op, ...}); one reply per stdout line
// ({id, ok, result|error}). Every console.* call (WatermelonDB's logger) goes to stderr and to
// the `diagnostics` buffer, so the tests can assert that the client logged no [Sync] complaint.
//
// Environment: SYNC_URL (base URL), TOKEN (bearer), CLIENT_ID, SCHEMA_JSON ({version, tables:
// {name: [{name, type, isOptional}]}}), GLUE ("app": JSON + X-Client-Id, or "docs": the
// verbatim docs glue with no Content-Type).
'use strict'

const readline = require('readline')

const diagnostics = []
for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  console[level] = (...args) => {
    const text = args.map((a) => (a instanceof Error ? a.stack : typeof a === 'string' ? a : JSON.stringify(a))).join(' ')
    diagnostics.push(`${level}: ${text}`)
    process.stderr.write(`${level}: ${text}\n`)
  }
}

const { Database, Model, appSchema, tableSchema } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { schemaMigrations } = require('@nozbe/watermelondb/Schema/migrations')
const { synchronize, hasUnsyncedChanges } = require('@nozbe/watermelondb/sync')

const spec = JSON.parse(process.env.SCHEMA_JSON)
const schema = appSchema({
  version: spec.version,
  tables: Object.entries(spec.tables).map(([name, columns]) => tableSchema({ name, columns })),
})
const modelClasses = Object.keys(spec.tables).map((name) => {
  const cls = class extends Model {}
  cls.table = name
  return cls
})
const adapter = new LokiJSAdapter({
  schema,
  migrations: schemaMigrations({ migrations: [] }),
  useWebWorker: false,
  useIncrementalIndexedDB: true,
  extraLokiOptions: { autosave: false },
  onSetUpError: (error) => console.error('setup failed', error),
})
const database = new Database({ adapter, modelClasses })

const BASE = process.env.SYNC_URL
const GLUE = process.env.GLUE || 'app'
const headers = () => {
  const h = { Authorization: `Bearer ${process.env.TOKEN}`, 'X-Client-Id': process.env.CLIENT_ID }
  if (GLUE === 'app') h['Content-Type'] = 'application/json'
  return h
}

async function pullChanges({ lastPulledAt, schemaVersion, migration }) {
  const query = `last_pulled_at=${lastPulledAt}&schema_version=${schemaVersion}&migration=${encodeURIComponent(JSON.stringify(migration))}`
  const response = await fetch(`${BASE}/v1/sync?${query}`, { headers: headers() })
  if (!response.ok) throw new Error(`pull ${response.status} ${await response.text()}`)
  return await response.json()
}

async function pushChanges({ changes, lastPulledAt }) {
  const response = await fetch(`${BASE}/v1/sync?last_pulled_at=${lastPulledAt}&schema_version=${spec.version}`, {
    method: 'POST',
    headers: headers(),
    body: JSON.stringify(changes),
  })
  if (!response.ok) throw new Error(`push ${response.status} ${await response.text()}`)
  const body = await response.json()
  return body && body.experimentalRejectedIds ? body : undefined
}

const ops = {
  async create({ table, id, values }) {
    let created
    await database.write(async () => {
      created = await database.get(table).create((record) => {
        if (id) record._raw.id = id
        for (const [key, value] of Object.entries(values || {})) record._setRaw(key, value)
      })
    })
    return created.id
  },
  async update({ table, id, values }) {
    await database.write(async () => {
      const record = await database.get(table).find(id)
      await record.update(() => {
        for (const [key, value] of Object.entries(values || {})) record._setRaw(key, value)
      })
    })
    return null
  },
  async delete({ table, id }) {
    await database.write(async () => {
      const record = await database.get(table).find(id)
      await record.markAsDeleted()
    })
    return null
  },
  async sync({ withPush = true }) {
    const log = {}
    const extra = []
    await synchronize({
      database,
      pullChanges,
      pushChanges: withPush ? pushChanges : undefined,
      migrationsEnabledAtVersion: 1,
      log,
      onDidPullChanges: (rest) => extra.push(rest),
    })
    return {
      newLastPulledAt: log.newLastPulledAt,
      resolvedConflicts: (log.resolvedConflicts || []).length,
      extra,
    }
  },
  async dump() {
    const tables = {}
    const deleted = {}
    for (const name of Object.keys(spec.tables)) {
      const records = await database.get(name).query().fetch()
      tables[name] = records.map((r) => r._raw)
      deleted[name] = await database.adapter.getDeletedRecords(name)
    }
    return { tables, deleted }
  },
  async unsynced() {
    return await hasUnsyncedChanges({ database })
  },
  async diagnostics() {
    return diagnostics
  },
  async quit() {
    setImmediate(() => process.exit(0))
    return null
  },
}

const lines = readline.createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on('line', (line) => {
  if (!line.trim()) return
  queue = queue.then(async () => {
    const command = JSON.parse(line)
    try {
      const result = await ops[command.op](command)
      process.stdout.write(JSON.stringify({ id: command.reqId, ok: true, result }) + '\n')
    } catch (error) {
      process.stdout.write(JSON.stringify({ id: command.reqId, ok: false, error: String(error && error.message ? error.message : error) }) + '\n')
    }
  })
})
lines.on('close', () => process.exit(0))
