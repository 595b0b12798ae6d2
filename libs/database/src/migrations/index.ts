import type { MigrationInterface } from 'typeorm';
import { CreateProfiles1795750303177 } from './1795750303177-CreateProfiles.js';
import { CreateAuditEvents1795750439946 } from './1795750439946-CreateAuditEvents.js';
import { CreateDevelopers1795750439947 } from './1795750439947-CreateDevelopers.js';
import { CreateLoginStates1795750504304 } from './1795750504304-CreateLoginStates.js';
import { PortalOrgLinksByIssuer1797000003000 } from './1797000003000-PortalOrgLinksByIssuer.js';
import { CreateIssuedTokens1797000004000 } from './1797000004000-CreateIssuedTokens.js';
import { AuditLeastPrivilege1797000005000 } from './1797000005000-AuditLeastPrivilege.js';
import { CreateAuditStreamCursor1797000007000 } from './1797000007000-CreateAuditStreamCursor.js';
import { CreateConsoleSessions1797000007001 } from './1797000007001-CreateConsoleSessions.js';
import { AddLoginTimeIndex1797000007002 } from './1797000007002-AddLoginTimeIndex.js';
import { CreateDeprovisioningOutbox1797000008000 } from './1797000008000-CreateDeprovisioningOutbox.js';
import { CreateScimUsers1797000008001 } from './1797000008001-CreateScimUsers.js';
import { AuditInsertGuardInC1797000009000 } from './1797000009000-AuditInsertGuardInC.js';
import { LinkIssuedTokensToDevelopers1797000010000 } from './1797000010000-LinkIssuedTokensToDevelopers.js';
import { SignAuditStreamCursor1797000012000 } from './1797000012000-SignAuditStreamCursor.js';
import { AuditSealGuardInWhen1797000013000 } from './1797000013000-AuditSealGuardInWhen.js';
import { DevelopersSubjectUniqueUntilErased1797000014310 } from './1797000014310-DevelopersSubjectUniqueUntilErased.js';
import { CreatePortalOrgIntents1797000015120 } from './1797000015120-CreatePortalOrgIntents.js';
import { DeprovisioningLeaseOwner1797000015520 } from './1797000015520-DeprovisioningLeaseOwner.js';
import { AuditStreamPendingBatch1797000016000 } from './1797000016000-AuditStreamPendingBatch.js';
import { ErasedSubjectOnlyWhileBlocked1797000016500 } from './1797000016500-ErasedSubjectOnlyWhileBlocked.js';
import { BoundAuditDetails1797000017000 } from './1797000017000-BoundAuditDetails.js';
import { DevelopersBlockedBy1797000017200 } from './1797000017200-DevelopersBlockedBy.js';
import { DevelopersUnblockedAt1797000017300 } from './1797000017300-DevelopersUnblockedAt.js';
import { AuditPersonalOnlyWithItsEvent1797000017400 } from './1797000017400-AuditPersonalOnlyWithItsEvent.js';
import { AuditCheckpointsOnlyAtTheEnd1797000017410 } from './1797000017410-AuditCheckpointsOnlyAtTheEnd.js';
import { AuditStreamPendingMac1797000017500 } from './1797000017500-AuditStreamPendingMac.js';
import { AuditCheckpointsNotPastTheHead1797000017600 } from './1797000017600-AuditCheckpointsNotPastTheHead.js';
import { DevelopersLiveSsoKey1797000017700 } from './1797000017700-DevelopersLiveSsoKey.js';
import { ScimUsersClient1797000017800 } from './1797000017800-ScimUsersClient.js';

/** The one linear migration history, oldest first. Registered as classes, not globs. */
export const MIGRATIONS: (new () => MigrationInterface)[] = [
  CreateProfiles1795750303177,
  CreateAuditEvents1795750439946,
  CreateDevelopers1795750439947,
  CreateLoginStates1795750504304,
  PortalOrgLinksByIssuer1797000003000,
  CreateIssuedTokens1797000004000,
  AuditLeastPrivilege1797000005000,
  CreateAuditStreamCursor1797000007000,
  CreateConsoleSessions1797000007001,
  AddLoginTimeIndex1797000007002,
  CreateDeprovisioningOutbox1797000008000,
  CreateScimUsers1797000008001,
  AuditInsertGuardInC1797000009000,
  LinkIssuedTokensToDevelopers1797000010000,
  SignAuditStreamCursor1797000012000,
  AuditSealGuardInWhen1797000013000,
  DevelopersSubjectUniqueUntilErased1797000014310,
  CreatePortalOrgIntents1797000015120,
  DeprovisioningLeaseOwner1797000015520,
  AuditStreamPendingBatch1797000016000,
  ErasedSubjectOnlyWhileBlocked1797000016500,
  BoundAuditDetails1797000017000,
  DevelopersBlockedBy1797000017200,
  DevelopersUnblockedAt1797000017300,
  AuditPersonalOnlyWithItsEvent1797000017400,
  AuditCheckpointsOnlyAtTheEnd1797000017410,
  AuditStreamPendingMac1797000017500,
  AuditCheckpointsNotPastTheHead1797000017600,
  DevelopersLiveSsoKey1797000017700,
  ScimUsersClient1797000017800,
];
