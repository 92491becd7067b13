import { Column, Entity, PrimaryColumn } from 'typeorm';

const bigintAsNumber = { to: (v: number) => v, from: (v: string | null) => (v === null ? null : Number(v)) };

/** One ledger entry (`ledger.entries`): see `@koa/ledger/domain` chain.ts for the hash rules. */
@Entity({ schema: 'ledger', name: 'entries' })
export class LedgerEntryEntity {
  /** 0-based position in the chain */
  @PrimaryColumn({ type: 'bigint', transformer: bigintAsNumber }) position!: number;
  @Column({ type: 'bigint', transformer: bigintAsNumber }) seq!: number;
  @Column({ type: 'text', name: 'event_id' }) eventId!: string;
  @Column({ type: 'text' }) source!: string;
  @Column({ type: 'text' }) type!: string;
  @Column({ type: 'text' }) tenant!: string;
  @Column({ type: 'text' }) subject!: string;
  @Column({ type: 'text' }) time!: string;
  @Column({ type: 'text', name: 'event_digest' }) eventDigest!: string;
  @Column({ type: 'text', name: 'prev_hash' }) prevHash!: string;
  @Column({ type: 'text', name: 'entry_hash' }) entryHash!: string;
  @Column({ type: 'timestamptz', name: 'recorded_at' }) recordedAt!: Date;
}

/** The chain head (`ledger.head`, one row, id = 1): row-locked by every append. */
@Entity({ schema: 'ledger', name: 'head' })
export class LedgerHeadEntity {
  @PrimaryColumn({ type: 'smallint' }) id!: number;
  @Column({ type: 'bigint', transformer: bigintAsNumber }) size!: number;
  @Column({ type: 'bigint', name: 'last_seq', transformer: bigintAsNumber }) lastSeq!: number;
  @Column({ type: 'text', name: 'head_hash' }) headHash!: string;
  @Column({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

/** One row per projection: its code version and the last stream seq applied. */
@Entity({ schema: 'ledger', name: 'projection_state' })
export class ProjectionStateEntity {
  @PrimaryColumn({ type: 'text' }) name!: string;
  @Column({ type: 'integer' }) version!: number;
  @Column({ type: 'bigint', name: 'last_seq', transformer: bigintAsNumber }) lastSeq!: number;
  @Column({ type: 'timestamptz', name: 'rebuilt_at', nullable: true }) rebuiltAt!: Date | null;
  @Column({ type: 'timestamptz', name: 'updated_at' }) updatedAt!: Date;
}

/** The entities to register with the persistence kit. */
export const LEDGER_ENTITIES = [LedgerEntryEntity, LedgerHeadEntity, ProjectionStateEntity];
