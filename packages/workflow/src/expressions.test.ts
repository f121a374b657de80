import { describe, expect, it } from '@jest/globals';
import { jsonPathMatches } from './criteria.ts';
import {
  evaluateCondition,
  evaluateString,
  evaluateTemplate,
  ExpressionError,
  parseCondition,
  type Scope,
} from './expressions.ts';
import type { Dialect } from './ir.ts';

function scope(dialect: Dialect, extra: Partial<Scope> = {}): Scope {
  return {
    dialect,
    inputs: { city: 'Angers', items: [{ name: 'a' }, { name: 'b' }], 'x-api-key': 'k', customer: { firstName: 'Ada' } },
    outputs: { lat: '47.4' },
    steps: {
      'find-pet': {
        outputs: { pets: [{ id: 7 }], id: 'p-7' },
        request: {
          method: 'GET',
          url: 'https://api.example/pets?tag=x',
          headers: { accept: 'application/json' },
          query: { tag: 'x' },
          path: {},
        },
        response: { status: 200, headers: { 'x-rate-limit': '10' }, body: { total: 1 } },
      },
    },
    workflows: { login: { inputs: { user: 'ann' }, outputs: { token: 't-1', profile: { name: 'Ann' } } } },
    request: {
      method: 'POST',
      url: 'https://api.example/orders/9?dry=1',
      headers: { accept: 'application/json', 'x-store': 'eu' },
      query: { dry: '1' },
      path: { id: '9' },
      body: { user: { uuid: 'u-1' } },
    },
    response: {
      status: 202,
      headers: { 'x-expires-after': '2030-01-01', location: 'https://api.example/orders/9' },
      body: {
        status: 'Pending',
        users: [
          { name: 'Alice', age: 25 },
          { name: 'Bob', age: 35 },
        ],
        hourly: { t: [10, 20, 30] },
        'a/b': 1,
        'm~n': 2,
      },
    },
    sources: { petstore: { name: 'petstore', url: 'https://petstore.example/openapi.yaml', type: 'openapi' } },
    components: { parameters: { page: { name: 'page', in: 'query', value: 1 } } },
    secrets: new Map([['API_KEY', 'sk-1']]),
    config: new Map([['org-id', 'acme']]),
    currentUserToken: 'bearer-1',
    ...extra,
  };
}

describe('Arazzo runtime expressions', () => {
  const s = scope('arazzo');
  it.each([
    ['$url', 'https://api.example/orders/9?dry=1'],
    ['$method', 'POST'],
    ['$statusCode', 202],
    ['$request.header.X-Store', 'eu'],
    ['$request.query.dry', '1'],
    ['$request.path.id', '9'],
    ['$request.body', { user: { uuid: 'u-1' } }],
    ['$request.body#/user/uuid', 'u-1'],
    ['$response.header.Location', 'https://api.example/orders/9'],
    ['$response.header.X-Expires-After', '2030-01-01'],
    ['$response.body#/status', 'Pending'],
    ['$response.body#/users/1/name', 'Bob'],
    ['$response.body#/a~1b', 1],
    ['$response.body#/m~0n', 2],
    ['$inputs.city', 'Angers'],
    ['$inputs.x-api-key', 'k'],
    ['$inputs.customer#/firstName', 'Ada'],
    ['$outputs.lat', '47.4'],
    ['$steps.find-pet.outputs.pets', [{ id: 7 }]],
    ['$steps.find-pet.outputs.pets#/0/id', 7],
    ['$steps.find-pet.response.header.X-Rate-Limit', '10'],
    ['$workflows.login.inputs.user', 'ann'],
    ['$workflows.login.outputs.profile#/name', 'Ann'],
    ['$sourceDescriptions.petstore.url', 'https://petstore.example/openapi.yaml'],
    ['$components.parameters.page', { name: 'page', in: 'query', value: 1 }],
    ['$steps.unknown.outputs.x', undefined],
  ])('%s', (expr, value) => {
    expect(evaluateString(expr, s)).toEqual(value);
  });

  it('keeps the referenced type for a whole expression and embeds {$…} into strings', () => {
    expect(evaluateString('{$statusCode}', s)).toBe(202);
    expect(evaluateString('order {$request.path.id} is {$response.body#/status}', s)).toBe('order 9 is Pending');
    expect(evaluateString('{$sourceDescriptions.petstore.url}#/paths/~1pet/get', s)).toBe(
      'https://petstore.example/openapi.yaml#/paths/~1pet/get',
    );
  });

  it('leaves text that is not an expression alone: no bare interpolation, `$` literals, braces', () => {
    expect(evaluateString('x $inputs.city', s)).toBe('x $inputs.city');
    expect(evaluateString('$100', s)).toBe('$100');
    expect(evaluateString('{name} {$nope}', s)).toBe('{name} {$nope}');
    expect(evaluateTemplate({ a: ['$inputs.city', 3, null], b: '$steps.none.outputs.x' }, s)).toEqual({
      a: ['Angers', 3, null],
    });
  });

  it('reads Bump’s roots in Arazzo documents too: $secrets, $config, $current_user', () => {
    expect(evaluateString('Bearer {$secrets.API_KEY}', s)).toBe('Bearer sk-1');
    expect(evaluateString('$config.ORG_ID', s)).toBe('acme');
    expect(evaluateString('$current_user.token', s)).toBe('bearer-1');
  });
});

describe('Bump’s dialect (Flower)', () => {
  const s = scope('flower');
  it.each([
    ['$inputs.city', 'Angers'],
    ['$inputs.items.0.name', 'a'],
    ['$inputs.items[1].name', 'b'],
    ['$response.body.users.1.age', 35],
    ['$response.status', 202],
    ['$status', 202],
    ['$statusCode', 202],
    ['$response.headers.location', 'https://api.example/orders/9'],
    ['$steps.find-pet.outputs.id', 'p-7'],
    ['$steps.find-pet.response.body.total', 1],
    ['$steps.find-pet.request.url', 'https://api.example/pets?tag=x'],
    ['$outputs.lat', '47.4'],
    ['$secrets.API_KEY', 'sk-1'],
    ['$config.org_id', 'acme'],
    ['$config.Org-Id', 'acme'],
    ['$current_user.ORG_ID', 'acme'],
    ['$current_user.token', 'bearer-1'],
    ['$config.unset', ''],
  ])('%s', (expr, value) => {
    expect(evaluateString(expr, s)).toEqual(value);
  });

  it('interpolates bare expressions, {$…} and $$, and leaves other dollars alone', () => {
    expect(evaluateString('$steps.find-pet.outputs.id in $inputs.city.', s)).toBe('p-7 in Angers.');
    expect(evaluateString('$outputs.lat, $response.body.users.0.name', s)).toBe('47.4, Alice');
    expect(evaluateString('"{$inputs.city}"', s)).toBe('"Angers"');
    expect(evaluateString('costs $5 or $$inputs.city', s)).toBe('costs $5 or $inputs.city');
    expect(evaluateString('https://api.example/$inputs.items.0.name/x', s)).toBe('https://api.example/a/x');
  });

  it('switches to JMESPath for projections, slices, filters and functions', () => {
    expect(evaluateString('$response.body.users[*].name', s)).toEqual(['Alice', 'Bob']);
    expect(evaluateString('$response.body.hourly.t[0:2]', s)).toEqual([10, 20]);
    expect(evaluateString('$response.body.users[?age > `30`].name', s)).toEqual(['Bob']);
    expect(evaluateString('avg($response.body.hourly.t)', s)).toBe(20);
    expect(evaluateString('length($response.body.users)', s)).toBe(2);
    expect(evaluateString('max_by($response.body.users, &age).name', s)).toBe('Bob');
    expect(evaluateString('$steps.find-pet.outputs.pets[*].id', s)).toEqual([7]);
  });
});

describe('conditions', () => {
  const az = scope('arazzo');
  const fl = scope('flower');
  const cond = (c: string, sc: Scope) => evaluateCondition(parseCondition(c, sc.dialect), sc);

  it.each([
    ['$statusCode == 202', true],
    ['$statusCode != 202', false],
    ['$statusCode > 200', true],
    ['$statusCode < 200', false],
    ['$statusCode >= 202', true],
    ['$statusCode <= 201', false],
    ["$statusCode == '202'", true],
    ['$statusCode == 200 || $statusCode == 202', true],
    ['$statusCode == 202 && $response.body#/status == null', false],
    ['!($statusCode == 200)', true],
    ['!$response.body#/missing', true],
    ['$response.body#/missing == null', true],
    ['$response.body#/missing != null', false],
    ["$response.body#/status == 'pending'", true],
    ["'it''s' == 'IT''S'", true],
    ['$response.body#/users/0/age < $response.body#/users/1/age', true],
    ['{$statusCode == 202}', true],
    ['$steps.find-pet.outputs.pets#/0/id == 7', true],
  ])('arazzo: %s', (c, expected) => {
    expect(cond(c, az)).toBe(expected);
  });

  it.each([
    ["$statusCode == 202 AND $response.body.status == 'Pending'", true],
    ["$response.body.status == 'pending'", false],
    ['$statusCode == 200 OR $statusCode == 202', true],
    ['$response.body.users.0.age > 20 and $response.body.users[1].age > 30', true],
    ['$response.body.status', true],
    ['$response.body.error', false],
    ['!$response.body.error', true],
  ])('flower: %s', (c, expected) => {
    expect(cond(c, fl)).toBe(expected);
  });

  it('rejects malformed conditions with a message naming the problem', () => {
    expect(() => parseCondition('$statusCode === 200', 'arazzo')).toThrow(ExpressionError);
    expect(() => parseCondition('$statusCode == pending', 'flower')).toThrow(/strings need single quotes/);
    expect(() => parseCondition('($statusCode == 200', 'flower')).toThrow(/missing \)/);
    expect(() => parseCondition("$statusCode == 'open", 'arazzo')).toThrow(/unterminated string/);
    expect(() => parseCondition('$nope == 1', 'arazzo')).toThrow(/unknown runtime expression/);
  });
});

describe('JSONPath criteria (RFC 9535 syntax through jsonpath-plus)', () => {
  it('tests the context itself with a root filter', () => {
    expect(jsonPathMatches('$[?@.access_token != null]', { access_token: 'x' })).toBe(true);
    expect(jsonPathMatches('$[?@.access_token != null]', { error: 'no' })).toBe(false);
    expect(jsonPathMatches("$[?@.state == 'done' && @.n > 1]", { state: 'done', n: 2 })).toBe(true);
  });

  it('count() counts array elements (absent is 0) and length() measures strings, arrays and objects', () => {
    expect(jsonPathMatches('$[?count(@.products) > 0]', { products: [{ id: 1 }] })).toBe(true);
    expect(jsonPathMatches('$[?count(@.products) > 0]', { products: [] })).toBe(false);
    expect(jsonPathMatches('$[?count(@.products) == 0]', {})).toBe(true);
    expect(jsonPathMatches('$[?length(@.name) == 3]', { name: 'Ann' })).toBe(true);
    expect(jsonPathMatches("$[?match(@.code, '[A-Z]{3}')]", { code: 'EUR' })).toBe(true);
    expect(jsonPathMatches("$[?search(@.code, 'U')]", { code: 'EUR' })).toBe(true);
  });

  it('selects into the context with paths and Goessner-style filters', () => {
    expect(jsonPathMatches('$.items[?(@.price > 10)]', { items: [{ price: 5 }, { price: 11 }] })).toBe(true);
    expect(jsonPathMatches('$.items[?@.price > 100]', { items: [{ price: 5 }] })).toBe(false);
    expect(jsonPathMatches('$.items[?@.deep.missing == 1]', { items: [{}] })).toBe(false);
    expect(jsonPathMatches('$.items', 'not json')).toBe(false);
  });
});
