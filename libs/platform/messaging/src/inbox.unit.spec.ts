import { MemoryInboxStore, inboxStoreContract } from './testing';

inboxStoreContract('MemoryInboxStore', async () => {
  const store = new MemoryInboxStore();
  return { store, poisonCommit: async () => store.failNextCommit() };
});
