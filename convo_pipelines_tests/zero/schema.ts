// The Zero schema of the app's tables and the three link tables, as the app's clients declare it: what
// convo_pipelines_tests/zero/client.ts queries and docs/reading-through-zero.md shows. A link table is a
// junction: a relationship through it is one `many()` with two hops. Its permissions (every row readable)
// are what `zero-deploy-permissions --schema-path schema.ts` deploys.
import { ANYONE_CAN, createSchema, definePermissions, number, relationships, string, table } from "@rocicorp/zero";

// uuid and text are strings, timestamptz a number (epoch milliseconds); a synced table needs its primary key.
const clients = table("clients")
  .columns({ id: string(), code: string(), name: string(), created_at: number(), updated_at: number() })
  .primaryKey("id");

const people = table("people")
  .columns({ id: string(), client_id: string(), name: string(), created_at: number(), updated_at: number() })
  .primaryKey("id");

const contactMethods = table("contact_methods")
  .columns({
    id: string(),
    person_id: string().optional(),
    kind: string(),
    value: string(),
    created_at: number(),
    updated_at: number(),
  })
  .primaryKey("id");

const frontConversations = table("front_conversations")
  .columns({ id: string(), subject: string().optional(), created_at: number(), updated_at: number() })
  .primaryKey("id");

const projects = table("projects")
  .columns({ id: string(), user_id: string().optional(), name: string(), created_at: number(), updated_at: number() })
  .primaryKey("id");

const conversations = table("conversations")
  .columns({
    id: string(),
    user_id: string().optional(),
    project_id: string().optional(),
    lead_id: string().optional(),
    closed_at: number().optional(),
    created_at: number(),
    updated_at: number(),
  })
  .primaryKey("id");

const peopleFrontConversations = table("people_front_conversations")
  .columns({
    id: string(),
    person_id: string(),
    front_conversation_id: string(),
    front_conversation_created_at: number(),
    created_at: number(),
    updated_at: number(),
  })
  .primaryKey("id");

const clientsFrontConversations = table("clients_front_conversations")
  .columns({
    id: string(),
    client_id: string(),
    front_conversation_id: string(),
    front_conversation_created_at: number(),
    created_at: number(),
    updated_at: number(),
  })
  .primaryKey("id");

const projectConversations = table("project_conversations")
  .columns({
    id: string(),
    project_id: string(),
    conversation_id: string(),
    added_at: number(),
    added_by: string().optional(),
  })
  .primaryKey("id");

const frontConversationRelationships = relationships(frontConversations, ({ many }) => ({
  people: many(
    { sourceField: ["id"], destField: ["front_conversation_id"], destSchema: peopleFrontConversations },
    { sourceField: ["person_id"], destField: ["id"], destSchema: people },
  ),
  clients: many(
    { sourceField: ["id"], destField: ["front_conversation_id"], destSchema: clientsFrontConversations },
    { sourceField: ["client_id"], destField: ["id"], destSchema: clients },
  ),
}));

const peopleRelationships = relationships(people, ({ many, one }) => ({
  client: one({ sourceField: ["client_id"], destField: ["id"], destSchema: clients }),
  front_conversations: many(
    { sourceField: ["id"], destField: ["person_id"], destSchema: peopleFrontConversations },
    { sourceField: ["front_conversation_id"], destField: ["id"], destSchema: frontConversations },
  ),
}));

const contactMethodRelationships = relationships(contactMethods, ({ one }) => ({
  person: one({ sourceField: ["person_id"], destField: ["id"], destSchema: people }),
}));

// The link rows themselves, for "newest 50": Zero cannot order or limit through a junction relationship.
const peopleLinkRelationships = relationships(peopleFrontConversations, ({ one }) => ({
  front_conversation: one({ sourceField: ["front_conversation_id"], destField: ["id"], destSchema: frontConversations }),
}));

const clientsLinkRelationships = relationships(clientsFrontConversations, ({ one }) => ({
  front_conversation: one({ sourceField: ["front_conversation_id"], destField: ["id"], destSchema: frontConversations }),
}));

const projectRelationships = relationships(projects, ({ many }) => ({
  conversations: many(
    { sourceField: ["id"], destField: ["project_id"], destSchema: projectConversations },
    { sourceField: ["conversation_id"], destField: ["id"], destSchema: conversations },
  ),
}));

export const schema = createSchema({
  tables: [
    clients,
    people,
    contactMethods,
    frontConversations,
    projects,
    conversations,
    peopleFrontConversations,
    clientsFrontConversations,
    projectConversations,
  ],
  relationships: [
    frontConversationRelationships,
    peopleRelationships,
    contactMethodRelationships,
    peopleLinkRelationships,
    clientsLinkRelationships,
    projectRelationships,
  ],
  // The client's ad-hoc queries (ZQL) go to zero-cache as they are, checked against the permissions below.
  enableLegacyQueries: true,
});

export const permissions = definePermissions(schema, () =>
  Object.fromEntries(schema.tables ? Object.keys(schema.tables).map((name) => [name, { row: { select: ANYONE_CAN } }]) : []),
);
