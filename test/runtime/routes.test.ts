/**
 * Route templates as the host matches them: parameters, optional and default values, constraints,
 * catch-all, mixed segments, and precedence of literals over parameters.
 */
import { byPrecedence, compileRoute, matchRoute, pathSegments, RouteTemplateError } from '../../runtime/routes';

const match = (template: string, path: string): Record<string, string> | undefined => matchRoute(compileRoute(template), pathSegments(path) ?? []);

describe('route templates', () => {
  it('binds named parameters between literal segments', () => {
    expect(match('environments/{environmentId}/setup', 'environments/contoso-uat/setup')).toEqual({ environmentId: 'contoso-uat' });
    expect(match('environments/{environmentId}/setup', 'Environments/contoso-uat/SETUP')).toEqual({ environmentId: 'contoso-uat' });
    expect(match('environments/{environmentId}/setup', 'environments/contoso-uat')).toBeUndefined();
    expect(match('environments/{environmentId}/setup', 'environments/a/setup/extra')).toBeUndefined();
  });

  it('decodes percent-encoded segments', () => {
    expect(match('files/{name}', 'files/a%20b')).toEqual({ name: 'a b' });
  });

  it('allows optional parameters and defaults to be absent', () => {
    expect(match('ping/{name?}', 'ping')).toEqual({});
    expect(match('ping/{name?}', 'ping/x')).toEqual({ name: 'x' });
    expect(match('page/{n:int=1}', 'page')).toEqual({ n: '1' });
  });

  it('applies constraints', () => {
    expect(match('items/{id:guid}', 'items/0f8fad5b-d9cb-469f-a165-70867728950e')).toEqual({ id: '0f8fad5b-d9cb-469f-a165-70867728950e' });
    expect(match('items/{id:guid}', 'items/42')).toBeUndefined();
    expect(match('pages/{n:int:min(1)}', 'pages/0')).toBeUndefined();
    expect(match('pages/{n:int:min(1)}', 'pages/3')).toEqual({ n: '3' });
    expect(match('pages/{n:int}', 'pages/3.5')).toBeUndefined();
    expect(match('codes/{c:alpha:length(2)}', 'codes/de')).toEqual({ c: 'de' });
    expect(match('codes/{c:alpha:length(2)}', 'codes/d1')).toBeUndefined();
    expect(match('v/{x:regex(^a+$)}', 'v/aaa')).toEqual({ x: 'aaa' });
  });

  it('collects the rest of the path with a catch-all', () => {
    expect(match('files/{*path}', 'files/a/b/c.txt')).toEqual({ path: 'a/b/c.txt' });
    expect(match('files/{*path}', 'files')).toEqual({});
  });

  it('matches segments mixing literals and parameters', () => {
    expect(match('reports/{name}.{ext}', 'reports/summary.pdf')).toEqual({ name: 'summary', ext: 'pdf' });
  });

  it('orders literal routes before parameter routes and catch-alls', () => {
    const routes = ['items/{id}', 'items/{*rest}', 'items/latest', 'items/{id:int}'].map(compileRoute).sort(byPrecedence);
    expect(routes.map((r) => r.template)).toEqual(['items/latest', 'items/{id:int}', 'items/{id}', 'items/{*rest}']);
  });

  it('rejects unknown constraints', () => {
    expect(() => compileRoute('x/{id:nonsense}')).toThrow(RouteTemplateError);
  });
});
