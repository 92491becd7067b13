import type { INestMicroservice } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PrivateNatsServer, createThrowAwayDatabase, type ThrowAwayDatabase } from '@koa/platform/testing';
import { PgInboxStore } from '../../../persistence/src/inbox';
import { Messaging } from '../messaging';

/**
 * What the transport's integration specs share: a private nats-server with the topology, a
 * throw-away database with a `PgInboxStore` in schema `schema`, and the Nest apps a spec starts
 * (closed by `dispose`, with everything else).
 */
export interface InboxEnv {
  readonly server: PrivateNatsServer;
  readonly messaging: Messaging;
  readonly db: ThrowAwayDatabase;
  readonly ds: DataSource;
  readonly inbox: PgInboxStore;
  readonly apps: INestMicroservice[];
  dispose(): Promise<void>;
}

export async function startInboxEnv(o: { name: string; schema: string; poolSize: number }): Promise<InboxEnv> {
  const server = await PrivateNatsServer.start();
  const messaging = await Messaging.connect({ url: server.url, name: `${o.name}-int` });
  await messaging.ensureTopology();
  const db = await createThrowAwayDatabase(`koa_${o.name}`);
  const ds = new DataSource({ type: 'postgres', url: db.url, poolSize: o.poolSize });
  await ds.initialize();
  const inbox = new PgInboxStore(ds, o.schema);
  await inbox.ensureSchema();
  const apps: INestMicroservice[] = [];
  return {
    server,
    messaging,
    db,
    ds,
    inbox,
    apps,
    async dispose() {
      for (const app of apps) await app.close().catch(() => undefined);
      await ds.destroy();
      await db.drop();
      await messaging.close();
      await server.dispose();
    },
  };
}
