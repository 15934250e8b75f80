// Names for the answers the app reads: every one generated from the server's OpenAPI
// document (web/openapi.json, derived from the server's Rust types).
import type { components } from './schema';

type Schemas = components['schemas'];
export type OverviewPage = Schemas['OverviewPage'];
export type OverviewRow = Schemas['OverviewRow'];
export type SessionView = Schemas['SessionView'];
export type UserRecord = Schemas['UserRecord'];
export type Role = Schemas['Role'];
export type AuditEntry = Schemas['AuditEntry'];
export type SessionItem = Schemas['SessionItem'];
export type ServerHealth = Schemas['ServerHealth'];
export type RouteStats = Schemas['RouteStats'];
export type MetricField = Schemas['MetricField'];
export type Unit = Schemas['Unit'];
export type AgentView = Schemas['AgentView'];
export type AgentEvent = Schemas['AgentEvent'];
export type MetricHistory = Schemas['MetricHistory'];
export type MetricSeries = Schemas['MetricSeries'];
export type CommandRecord = Schemas['CommandRecord'];
export type Diagnostic = Schemas['Diagnostic'];
export type AlertView = Schemas['AlertView'];
export type AlertRuleRecord = Schemas['AlertRuleRecord'];
export type Silence = Schemas['Silence'];
export type DeliveryAttempt = Schemas['DeliveryAttempt'];
export type SetupState = Schemas['SetupState'];

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}
