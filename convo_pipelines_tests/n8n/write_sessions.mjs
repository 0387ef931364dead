// Writes chat sessions as n8n's "Postgres Chat Memory" node does: through LangChain JS's PostgresChatMessageHistory,
// given a pg Pool, the session id and the table name (n8n's default, n8n_chat_histories), which the class creates itself.
// Usage: node write_sessions.mjs POOL_CONFIG_JSON '{"session id": [["human", "text"], ["ai", "text"], ...], ...}'
// Prints, per session, the counts the client reads back (getMessages): {"session id": {"messages": n, "human": h, "ai": a}}.
import pg from "pg";
import { PostgresChatMessageHistory } from "@langchain/community/stores/message/postgres";
import { AIMessage, HumanMessage } from "@langchain/core/messages";

// POOL_CONFIG_JSON is pg's own: {"host": ..., "port": ..., "user": ..., "password": ..., "database": ...}.
const [poolConfigJson, sessionsJson, tableName = "n8n_chat_histories"] = process.argv.slice(2);
const pool = new pg.Pool(JSON.parse(poolConfigJson));
const counts = {};
try {
  for (const [sessionId, turns] of Object.entries(JSON.parse(sessionsJson))) {
    const history = new PostgresChatMessageHistory({ pool, sessionId, tableName });
    for (const [kind, text] of turns) {
      await history.addMessage(kind === "human" ? new HumanMessage(text) : new AIMessage(text));
    }
    const messages = await history.getMessages();
    counts[sessionId] = {
      messages: messages.length,
      human: messages.filter((message) => message.getType() === "human").length,
      ai: messages.filter((message) => message.getType() === "ai").length,
    };
  }
} finally {
  await pool.end();
}
console.log(JSON.stringify(counts));
