import { Column, CreateDateColumn, Entity, Index, PrimaryColumn, UpdateDateColumn, VersionColumn } from 'typeorm';
import type { TibProfile } from './profile.model.js';

/** A TIB profile: the canonical document plus indexed columns and an optimistic-lock version. */
@Entity({ name: 'profiles' })
export class ProfileEntity {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Index('idx_profiles_action_type')
  @Column({ name: 'action_type', type: 'text' })
  actionType!: string;

  @Index('idx_profiles_provider_name')
  @Column({ name: 'provider_name', type: 'text' })
  providerName!: string;

  /** For queries; jsonb reorders keys, so answers are served from document_text. */
  @Column({ type: 'jsonb' })
  document!: TibProfile;

  /** The canonical JSON exactly as the broker wrote it: TIB's field order, ProviderConfig as sent. */
  @Column({ name: 'document_text', type: 'text' })
  documentText!: string;

  @VersionColumn({ type: 'integer', default: 1 })
  version!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
