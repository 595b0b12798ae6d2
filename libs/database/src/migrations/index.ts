import type { MigrationInterface } from 'typeorm';

/** The one linear migration history, oldest first. Registered as classes, not globs. */
export const MIGRATIONS: (new () => MigrationInterface)[] = [];
