// A Zero client as the app's browsers run it (in-memory store), connected to zero-cache over its sync protocol.
// Usage (Node 22, from this folder): node --experimental-strip-types client.ts MODE CACHE_URL
//   answer: reads one JSON object of ids from stdin ({"conversations", "people", "clients", "projects"}), asks the
//           app's questions about them once zero-cache has answered in full, prints the answers as one JSON object.
//   watch:  prints {"ready": true}, then reads one JSON change per stdin line ({"sample", "question", "owner",
//           "conversation", "contact_method"?, "appears"}), keeps a live query of the question open, and prints
//           {"sample", "seen_at"} (epoch milliseconds) once the query's view shows the change.
import { createInterface } from "node:readline";
import { Zero, createBuilder } from "@rocicorp/zero";
import { schema } from "./schema.ts";

const NEWEST = 50;
const zql = createBuilder(schema);

// A person's or a client's newest conversations: the link rows ordered and limited, each related to its conversation.
function newestOfPerson(personId: string) {
  return zql.people_front_conversations
    .where("person_id", personId)
    .orderBy("front_conversation_created_at", "desc")
    .orderBy("front_conversation_id", "desc")
    .limit(NEWEST)
    .related("front_conversation");
}

function newestOfClient(clientId: string) {
  return zql.clients_front_conversations
    .where("client_id", clientId)
    .orderBy("front_conversation_created_at", "desc")
    .orderBy("front_conversation_id", "desc")
    .limit(NEWEST)
    .related("front_conversation");
}

function conversationsWithPeopleAndClients(ids: string[]) {
  return zql.front_conversations.where("id", "IN", ids).related("people").related("clients");
}

function projectsWithConversations(ids: string[]) {
  return zql.projects.where("id", "IN", ids).related("conversations");
}

type Row = { id: string; [key: string]: unknown };

const sortedIds = (rows: readonly Row[]) => rows.map((row) => row.id).sort();

async function answer(zero: Zero<typeof schema>, ids: Record<string, string[]>) {
  const complete = { type: "complete" } as const;
  const [conversations, projects, people, clients] = await Promise.all([
    zero.run(conversationsWithPeopleAndClients(ids.conversations ?? []), complete),
    zero.run(projectsWithConversations(ids.projects ?? []), complete),
    Promise.all((ids.people ?? []).map((id) => zero.run(newestOfPerson(id), complete))),
    Promise.all((ids.clients ?? []).map((id) => zero.run(newestOfClient(id), complete))),
  ]);
  const newest = (owners: string[], answers: readonly (readonly Row[])[]) =>
    Object.fromEntries(
      owners.map((owner, i) => [owner, answers[i].map((link) => (link.front_conversation as Row | undefined)?.id ?? null)]),
    );
  return {
    conversation_people: Object.fromEntries(conversations.map((c) => [c.id, sortedIds(c.people as Row[])])),
    conversation_clients: Object.fromEntries(conversations.map((c) => [c.id, sortedIds(c.clients as Row[])])),
    person_newest: newest(ids.people ?? [], people as Row[][]),
    client_newest: newest(ids.clients ?? [], clients as Row[][]),
    project_conversations: Object.fromEntries(projects.map((p) => [p.id, sortedIds(p.conversations as Row[])])),
  };
}

type Change = {
  sample: number;
  question: "conversation_people" | "conversation_clients" | "contact_method_person" | "project_conversations";
  owner: string;
  conversation: string;
  contact_method?: string;
  appears: boolean;
};

// The live query a change shows in, and whether a view's rows show the owner linked to the conversation.
function liveQuery(change: Change): { query: unknown; linked: (rows: readonly Row[]) => boolean } {
  const has = (rows: readonly Row[] | undefined, id: string) => (rows ?? []).some((row) => row.id === id);
  switch (change.question) {
    case "conversation_people":
      return {
        query: zql.front_conversations.where("id", change.conversation).related("people"),
        linked: (rows) => rows.some((c) => has(c.people as Row[], change.owner)),
      };
    case "conversation_clients":
      return {
        query: zql.front_conversations.where("id", change.conversation).related("clients"),
        linked: (rows) => rows.some((c) => has(c.clients as Row[], change.owner)),
      };
    case "contact_method_person":
      // Whoever owns the contact method now (the app may re-create its person meanwhile) has the conversation.
      return {
        query: zql.contact_methods
          .where("id", change.contact_method!)
          .related("person", (person) =>
            person.related("front_conversations", (conversation) => conversation.where("id", change.conversation)),
          ),
        linked: (rows) => rows.some((cm) => ((cm.person as Row | undefined)?.front_conversations as Row[] | undefined)?.length),
      };
    case "project_conversations":
      return {
        query: zql.projects.where("id", change.owner).related("conversations", (c) => c.where("id", change.conversation)),
        linked: (rows) => rows.some((p) => has(p.conversations as Row[], change.conversation)),
      };
  }
}

function watch(zero: Zero<typeof schema>, change: Change) {
  const { query, linked } = liveQuery(change);
  const view = zero.materialize(query as Parameters<typeof zero.materialize>[0]);
  let done = false;
  view.addListener((data, resultType) => {
    if (done || resultType !== "complete") return;
    if (linked(data as unknown as Row[]) === change.appears) {
      done = true;
      process.stdout.write(JSON.stringify({ sample: change.sample, seen_at: Date.now() }) + "\n");
      queueMicrotask(() => view.destroy());
    }
  });
}

const [mode, cacheURL] = process.argv.slice(2);
const zero = new Zero({
  cacheURL,
  schema,
  userID: "convo-pipelines-tests",
  kvStore: "mem",
  logLevel: "error",
  // Logs go to stderr: stdout carries only the answers.
  logSink: { log: (level, _context, ...args) => process.stderr.write(`${level} ${args.map(String).join(" ")}\n`) },
});

if (mode === "answer") {
  let input = "";
  for await (const chunk of process.stdin) input += chunk;
  process.stdout.write(JSON.stringify(await answer(zero, JSON.parse(input))));
  await zero.close();
  process.exit(0);
} else if (mode === "watch") {
  // One answered query first: the client is connected and zero-cache serves it.
  await zero.run(zql.clients.limit(1), { type: "complete" });
  process.stdout.write(JSON.stringify({ ready: true }) + "\n");
  for await (const line of createInterface({ input: process.stdin })) {
    if (line.trim()) watch(zero, JSON.parse(line) as Change);
  }
  await zero.close();
  process.exit(0);
} else {
  process.stderr.write(`unknown mode ${mode}: answer or watch\n`);
  process.exit(2);
}
