import { MemoryInboxStore, inboxStoreContract } from './testing';

inboxStoreContract('MemoryInboxStore', async () => ({ store: new MemoryInboxStore() }));
