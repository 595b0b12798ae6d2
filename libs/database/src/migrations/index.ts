import type { MigrationInterface } from 'typeorm';
import { CreateProfiles1795750303177 } from './1795750303177-CreateProfiles.js';

/** The one linear migration history, oldest first. Registered as classes, not globs. */
export const MIGRATIONS: (new () => MigrationInterface)[] = [
  CreateProfiles1795750303177,
];
