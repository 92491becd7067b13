export {
  CASE_EVENT_TYPES,
  caseDecider,
  decide,
  evolve,
  initialState,
  isCaseEvent,
  replay,
  type CaseCommand,
  type CaseDetails,
  type CaseEvent,
  type CaseState,
  type CaseTask,
  type CommandMeta,
  type DecideOptions,
  type Intent,
  type OpenCase,
  type RecordBuildOutcome,
  type RecordReleaseOutcome,
  type TaskParams,
  type Trigger,
} from './case.decider';
export { IDEMPOTENCY_KEY_PATTERN, buildTaskIdFor, caseIdFor, openEventIdBase, reactionEventIdBase, releaseTaskIdFor } from './case.ids';
export { OUTCOME_EVENT_TYPES, commandForOutcome, isOutcomeEvent, type OutcomeEvent, type OutcomeEventType } from './outcomes';
export { DEFAULT_POLICY, GATE_POLICIES, policyFor, type GatePolicy } from './policy';
export {
  OperatorTriggerBody,
  caseView,
  isSameTrigger,
  openCaseCommand,
  parseOperatorTrigger,
  type CasePhase,
  type CaseView,
  type OperatorTrigger,
} from './trigger';
