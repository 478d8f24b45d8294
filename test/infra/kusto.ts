/**
 * Test helper: analyzes a KQL query offline with Microsoft's Kusto language service (the JavaScript build of
 * Kusto.Language, npm `@kusto/language-service-next`), against the Log Analytics tables the product's
 * queries read, and returns the diagnostics and the columns of the result: what Azure Monitor would say
 * about the query, without a workspace.
 */
/**
 * The AppTraces table as Azure Monitor documents it:
 * https://learn.microsoft.com/azure/azure-monitor/reference/tables/apptraces
 */
export const APP_TRACES_SCHEMA =
  '(AppRoleInstance:string, AppRoleName:string, AppVersion:string, _BilledSize:real, ClientBrowser:string, ClientCity:string, ' +
  'ClientCountryOrRegion:string, ClientIP:string, ClientModel:string, ClientOS:string, ClientStateOrProvince:string, ClientType:string, ' +
  'IKey:string, _IsBillable:string, ItemCount:int, Measurements:dynamic, Message:string, OperationId:string, OperationName:string, ' +
  'ParentId:string, Properties:dynamic, ReferencedItemId:string, ReferencedType:string, ResourceGUID:string, _ResourceId:string, ' +
  'SDKVersion:string, SessionId:string, SeverityLevel:int, SourceSystem:string, _SubscriptionId:string, TenantId:string, ' +
  'TimeGenerated:datetime, Type:string, UserAccountId:string, UserAuthenticatedId:string, UserId:string)';

export interface KqlDiagnostic {
  severity: string;
  code: string;
  message: string;
  /** Offset of the problem in the query text. */
  start: number;
}

export interface KqlAnalysis {
  diagnostics: KqlDiagnostic[];
  /** Name → Kusto type of each column of the query's result (empty when the result is not a table). */
  columns: Record<string, string>;
}

/** The parts of the Bridge.NET-compiled API this helper calls (the package's own typings describe a global namespace). */
interface BridgeList<T> {
  Count: number;
  getItem(index: number): T;
}
interface KustoLanguage {
  Symbols: {
    TableSymbol: { $ctor7: new (name: string, schema: string, description: string | null) => unknown };
    DatabaseSymbol: { $ctor2: new (name: string, alternateName: string | null, members: unknown[]) => unknown };
  };
  GlobalState: { Default: { WithDatabase(database: unknown): unknown } };
  KustoCode: {
    ParseAndAnalyze(
      text: string,
      globals: unknown,
    ): {
      GetDiagnostics(): BridgeList<{ Severity: string; Code: string; Message: string; Start: number }>;
      ResultType: { Columns?: BridgeList<{ Name: string; Type: { Name: string } }> } | null;
    };
  };
}

let language: KustoLanguage | undefined;

/** Loads the language service: its scripts define the globals `Bridge` (its runtime, first) and `Kusto`. */
function kusto(): KustoLanguage {
  if (language) return language;
  require('@kusto/language-service-next/bridge.js');
  require('@kusto/language-service-next');
  const loaded = (globalThis as { Kusto?: { Language?: KustoLanguage } }).Kusto?.Language;
  if (!loaded) throw new Error('@kusto/language-service-next did not define Kusto.Language');
  language = loaded;
  return loaded;
}

function list<T>(items: BridgeList<T> | undefined | null): T[] {
  const result: T[] = [];
  for (let i = 0; i < (items?.Count ?? 0); i++) result.push((items as BridgeList<T>).getItem(i));
  return result;
}

/** Analyzes `query` in a Log Analytics workspace that has the given tables (name → schema). */
export function analyzeKql(query: string, tables: Record<string, string>): KqlAnalysis {
  const k = kusto();
  const symbols = Object.entries(tables).map(([name, schema]) => new k.Symbols.TableSymbol.$ctor7(name, schema, null));
  const globals = k.GlobalState.Default.WithDatabase(new k.Symbols.DatabaseSymbol.$ctor2('workspace', null, symbols));
  const code = k.KustoCode.ParseAndAnalyze(query, globals);
  const diagnostics = list(code.GetDiagnostics()).map((d) => ({ severity: d.Severity, code: d.Code, message: d.Message, start: d.Start }));
  const columns: Record<string, string> = {};
  for (const column of list(code.ResultType?.Columns)) columns[column.Name] = column.Type.Name;
  return { diagnostics, columns };
}
