import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@toolplane/errors';
import { parse } from 'yaml';
import { type ArazzoCompileOptions, type SourceReference, unresolvedSources } from './arazzo.ts';
import { compileWorkflowDocument } from './document.ts';
import { runWorkflow } from './engine.ts';
import { fakeClock, fakeHttp, fixture, secretsFrom } from './test-support.ts';

/** The OpenAPI documents the official examples name, as a deployment would carry them. */
const references: SourceReference[] = [
  { location: './animals.yaml', content: fixture('support/animals.yaml') },
  {
    location: 'https://raw.githubusercontent.com/swagger-api/swagger-petstore/master/src/main/resources/openapi.yaml',
    content: fixture('support/petstore.openapi.yaml'),
  },
  { location: 'bnpl-openapi.yaml', content: fixture('arazzo/bnpl-openapi.yaml') },
  { location: 'oauth.openapi.yaml', content: parse(fixture('arazzo/oauth.openapi.yaml')) },
  { location: 'pet-coupons.openapi.yaml', content: fixture('arazzo/pet-coupons.openapi.yaml') },
  { location: 'FAPI-PAR.openapi.yaml', content: fixture('arazzo/FAPI-PAR.openapi.yaml') },
];

/** Sources whose servers are relative get a base URL, as Respect's `--server name=url` does. */
const servers = {
  petStoreDescription: 'https://petstore3.example/api/v3',
  BnplApi: 'https://bnpl.example/bnpl/v1',
  'pet-coupons': 'https://petstore.example/v1',
};

const compile = (file: string) => compileWorkflowDocument(fixture(`arazzo/${file}`), { references, servers });
const noSecrets = secretsFrom({});

function compileError(text: string, opts: ArazzoCompileOptions = { references, servers }): ValidationError {
  try {
    compileWorkflowDocument(text, opts);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('official Arazzo examples compile', () => {
  it.each([
    ['ExtendedParametersExample.arazzo.yaml', ['animal-workflow']],
    ['FAPI-PAR.arazzo.yaml', ['OIDC-PAR-AuthzCode']],
    ['LoginAndRetrievePets.arazzo.yaml', ['loginUserRetrievePet']],
    ['bnpl-arazzo.yaml', ['ApplyForLoanAtCheckout']],
    ['oauth.arazzo.yaml', ['refresh-token-flow', 'client-credentials-flow', 'authorization-code-flow']],
    ['pet-coupons.arazzo.yaml', ['apply-coupon', 'buy-available-pet', 'place-order']],
  ])('%s', (file, tools) => {
    const compiled = compile(file);
    expect(compiled.tools.map((t) => t.name)).toEqual(tools);
    for (const t of compiled.tools) {
      expect(t.inputSchema.type).toBe('object');
      expect(t.outputSchema.type).toBe('object');
    }
  });

  it('reports the examples’ own slips as warnings naming their paths', () => {
    expect(compile('FAPI-PAR.arazzo.yaml').warnings).toContainEqual({
      path: '/workflows/0/steps/0/operationId',
      message: 'operationId "PAR" matched "Par" only when ignoring case',
    });
    expect(compile('pet-coupons.arazzo.yaml').warnings).toContainEqual({
      path: '/workflows/0/steps/1/parameters/0/name',
      message: 'the path /pet/{petId}/coupons has no {pet_id} placeholder',
    });
    const bnpl = compile('bnpl-arazzo.yaml').warnings.map((w) => w.path);
    expect(bnpl).toContain('/workflows/0/steps/5/parameters/0/value');
    expect(bnpl).toContain('/workflows/0/outputs/finalizedPaymentPlan');
  });

  it('inlines component input schemas into the tool input schema', () => {
    const tool = compile('pet-coupons.arazzo.yaml').tools.find((t) => t.name === 'apply-coupon')!;
    expect(tool.inputSchema).toMatchObject({
      type: 'object',
      properties: { my_pet_tags: { type: 'array', items: { type: 'string' } }, store_id: { type: 'string' } },
    });
    expect(JSON.stringify(tool.inputSchema)).not.toContain('$ref');
  });

  it('fails without the OpenAPI source, naming the source description', () => {
    const err = compileError(fixture('arazzo/oauth.arazzo.yaml'), { references: [], servers: {} });
    expect(err.issues).toEqual([
      {
        path: '/sourceDescriptions/0/url',
        message: expect.stringContaining('no document was provided for ./oauth.openapi.yaml'),
      },
    ]);
  });
});

describe('official Arazzo examples run against fakes of their OpenAPI sources', () => {
  it('ExtendedParametersExample: workflow-level header and cookie parameters reach every step', async () => {
    const { ir } = compile('ExtendedParametersExample.arazzo.yaml');
    const upstream = fakeHttp((req) =>
      req.method === 'POST' ? { status: 201, body: { id: 1 } } : { body: { name: 'okapi' } },
    );
    const result = await runWorkflow(ir, 'animal-workflow', {}, { http: upstream.http, secret: noSecrets });
    expect(result).toMatchObject({ ok: true, outputs: {} });
    expect(upstream.lines()).toEqual(['POST /v1/animals', 'GET /v1/animals/random']);
    expect(upstream.requests[0]!.headers).toMatchObject({
      workflowlevelparamtwo: 'someValue',
      cookie: 'workflowLevelParamOne=someValue; authentication=SUPER_SECRET',
    });
    expect(upstream.requests[1]!.headers).toMatchObject({
      workflowlevelparamtwo: 'someValue',
      cookie: 'workflowLevelParamOne=someValue',
    });
  });

  it('FAPI-PAR: PAR, authorize (302) and token; object inputs as query values and JSON bodies', async () => {
    const { ir } = compile('FAPI-PAR.arazzo.yaml');
    const upstream = fakeHttp((req) => {
      if (req.url.pathname === '/as/par.oauth2')
        return { status: 200, body: { request_uri: 'urn:par:1', expires_in: 60 } };
      if (req.url.pathname === '/as/authorize.oauth2')
        return { status: 302, headers: { location: 'https://tpp.example/cb?code=c-1' }, body: { code: 'c-1' } };
      return { status: 200, body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 300 } };
    });
    const inputs = {
      client_id: 'tpp',
      client_assertion: { iss: 'tpp', sub: 'tpp', aud: 'as' },
      redirect_uri: 'https://tpp.example/cb',
      code_verifier: 'verifier',
      PARrequestBody: { response_type: 'code', client_id: 'tpp', scope: 'openid' },
      TokenRequestBody: {
        grant_type: 'authorization_code',
        code: '-',
        redirect_uri: 'https://tpp.example/cb',
        code_verifier: 'verifier',
      },
    };
    const result = await runWorkflow(ir, 'OIDC-PAR-AuthzCode', inputs, { http: upstream.http, secret: noSecrets });
    expect(result.error).toBeUndefined();
    expect(result.outputs).toEqual({ access_token: { access_token: 'at-1', token_type: 'Bearer', expires_in: 300 } });
    expect(upstream.requests.map((r) => `${r.method} ${r.url.origin}${r.url.pathname}`)).toEqual([
      'POST https://api.uat.example.com/as/par.oauth2',
      'GET https://api.uat.example.com/as/authorize.oauth2',
      'POST https://api.uat.example.com/as/token.oauth2',
    ]);
    const [par, authz, token] = upstream.requests;
    expect(par!.url.searchParams.get('client_assertion_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    expect(JSON.parse(par!.url.searchParams.get('client_assertion')!)).toEqual(inputs.client_assertion);
    expect(JSON.parse(par!.body!)).toEqual(inputs.PARrequestBody);
    expect(authz!.url.searchParams.get('request_uri')).toBe('urn:par:1');
    expect(JSON.parse(token!.body!)).toEqual({
      grant_type: 'authorization_code',
      code: 'c-1',
      redirect_uri: 'https://tpp.example/cb',
      code_verifier: 'verifier',
    });
  });

  it('LoginAndRetrievePets: response headers and the whole body as outputs; operationPath to a path item', async () => {
    const { ir } = compile('LoginAndRetrievePets.arazzo.yaml');
    const pets = [{ id: 1, name: 'doggie', status: 'available' }];
    const upstream = fakeHttp((req) =>
      req.url.pathname.endsWith('/user/login')
        ? {
            headers: {
              'x-rate-limit': '100',
              'x-expires-after': '2030-01-01T00:00:00Z',
              'content-type': 'application/json',
            },
            body: '"session-42"',
          }
        : { body: pets },
    );
    const result = await runWorkflow(
      ir,
      'loginUserRetrievePet',
      { username: 'ann', password: 'pw' },
      { http: upstream.http, secret: noSecrets },
    );
    expect(result.outputs).toEqual({ available: pets });
    expect(upstream.lines()).toEqual([
      'GET /api/v3/user/login?username=ann&password=pw',
      'GET /api/v3/pet/findByStatus?status=available',
    ]);
    expect(upstream.requests[1]!.headers.authorization).toBe('session-42');
  });

  it('bnpl: eligible products → terms → new customer → transaction; the example never names loanTransactionId, so the run stops there', async () => {
    const { ir } = compile('bnpl-arazzo.yaml');
    const products = [{ productCode: 'TV-1', purchaseAmount: { currency: 'EUR', amount: 499 } }];
    const upstream = fakeHttp((req) => {
      switch (`${req.method} ${req.url.pathname}`) {
        case 'POST /bnpl/v1/products':
          return {
            body: {
              existingCustomerNotEligible: true,
              eligibilityCheckRequired: true,
              products,
              totalAmount: { currency: 'EUR', amount: 499 },
            },
          };
        case 'GET /bnpl/v1/terms-and-conditions':
          return { body: { termsAndConditions: 'be nice' } };
        case 'POST /bnpl/v1/customers':
          return { status: 201, body: { links: { self: 'https://bnpl.example/customers/c-1' } } };
        case 'POST /bnpl/v1/loan-transactions':
          return {
            status: 202,
            body: { redirectAuthToken: null, links: { self: 'https://bnpl.example/loan-transactions/l-1' } },
          };
        default:
          return { status: 404 };
      }
    });
    const customer = { firstName: 'Ada', lastName: 'Lovelace', dateOfBirth: '1815-12-10T00:00:00Z', postalCode: 'W1' };
    const result = await runWorkflow(
      ir,
      'ApplyForLoanAtCheckout',
      { customer, products },
      { http: upstream.http, secret: noSecrets },
    );
    expect(upstream.lines()).toEqual([
      'POST /bnpl/v1/products',
      'GET /bnpl/v1/terms-and-conditions',
      'POST /bnpl/v1/customers',
      'POST /bnpl/v1/loan-transactions',
    ]);
    // "{$inputs.customer}" inside a JSON text payload keeps the object (not its text).
    expect(JSON.parse(upstream.requests[0]!.body!)).toEqual({ customer, products });
    expect(JSON.parse(upstream.requests[2]!.body!)).toEqual({ ...customer, termsAndConditionsAccepted: true });
    expect(JSON.parse(upstream.requests[3]!.body!)).toEqual({
      newCustomer: 'https://bnpl.example/customers/c-1',
      products,
    });
    expect(result.ok).toBe(false);
    expect(result.error).toMatchObject({ code: 'request_invalid', stepId: 'retrieveFinalizedPaymentPlan' });
    expect(result.error!.message).toContain('loanTransactionId');
  });

  it('bnpl: an existing customer that is eligible ends the workflow after the first step (outputs of steps that never ran are absent)', async () => {
    const { ir } = compile('bnpl-arazzo.yaml');
    const upstream = fakeHttp(() => ({ body: { existingCustomerNotEligible: false, products: [] } }));
    const result = await runWorkflow(
      ir,
      'ApplyForLoanAtCheckout',
      { customer: { uri: 'https://bnpl.example/customers/c-9' }, products: [] },
      { http: upstream.http, secret: noSecrets },
    );
    expect(result).toMatchObject({ ok: true, outputs: {} });
    expect(upstream.lines()).toEqual(['POST /bnpl/v1/products']);
    expect(result.trace.find((e) => e.name === 'step.run')!.attributes).toMatchObject({
      action: 'end',
      outcome: 'success',
    });
  });

  it('oauth refresh-token-flow: runs authorization-code-flow as a step, then refreshes with its refresh token (form bodies, jsonpath criterion)', async () => {
    const { ir } = compile('oauth.arazzo.yaml');
    let tokens = 0;
    const upstream = fakeHttp((req) => {
      if (req.url.pathname === '/authorize') return { body: { code: 'code-1', access_token: 'ignored' } };
      tokens++;
      return { body: { access_token: `at-${tokens}`, refresh_token: `rt-${tokens}`, expires_in: 3600 } };
    });
    const result = await runWorkflow(
      ir,
      'refresh-token-flow',
      { my_client_id: 'cid', my_client_secret: 'cs', my_redirect_uri: 'https://app.example/cb' },
      { http: upstream.http, secret: noSecrets },
    );
    expect(result.error).toBeUndefined();
    expect(result.outputs).toEqual({ access_token: 'at-2', refresh_token: 'rt-2', expires_in: 3600 });
    expect(upstream.lines()).toEqual([
      'GET /authorize?client_id=cid&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=read&state=12345',
      'POST /oauth/token',
      'POST /oauth/token',
    ]);
    expect(upstream.requests[1]!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(Object.fromEntries(new URLSearchParams(upstream.requests[1]!.body!))).toEqual({
      grant_type: 'authorization_code',
      code: 'code-1',
      redirect_uri: 'https://app.example/cb',
      client_id: 'cid',
      client_secret: 'cs',
    });
    expect(Object.fromEntries(new URLSearchParams(upstream.requests[2]!.body!))).toEqual({
      grant_type: 'refresh_token',
      refresh_token: 'rt-1',
    });
    const flows = result.trace.filter((e) => e.name === 'flow.run').map((e) => e.workflowId);
    expect(flows).toEqual(['refresh-token-flow', 'authorization-code-flow']);
  });

  it('oauth client-credentials-flow: succeeds with a token and fails when the jsonpath criterion finds none', async () => {
    const { ir } = compile('oauth.arazzo.yaml');
    const ok = fakeHttp(() => ({ body: { access_token: 'at-cc' } }));
    const result = await runWorkflow(
      ir,
      'client-credentials-flow',
      { client_id: 'cid', client_secret: 'cs' },
      { http: ok.http, secret: noSecrets },
    );
    expect(result.outputs).toEqual({ access_token: 'at-cc' });
    expect(Object.fromEntries(new URLSearchParams(ok.requests[0]!.body!))).toEqual({
      client_id: 'cid',
      client_secret: 'cs',
      grant_type: 'client_credentials',
    });

    const noToken = fakeHttp(() => ({ body: { error: 'invalid_client' } }));
    const failed = await runWorkflow(
      ir,
      'client-credentials-flow',
      { client_id: 'cid', client_secret: 'cs' },
      { http: noToken.http, secret: noSecrets },
    );
    expect(failed).toMatchObject({
      ok: false,
      outputs: {},
      error: { code: 'step_failed', stepId: 'get-client-creds-token' },
    });
  });

  it('oauth authorization-code-flow: the authorize step fails without an access_token in the body', async () => {
    const { ir } = compile('oauth.arazzo.yaml');
    const upstream = fakeHttp(() => ({ body: { code: 'c' } }));
    const result = await runWorkflow(
      ir,
      'authorization-code-flow',
      { client_id: 'cid', client_secret: 'cs', redirect_uri: 'https://app.example/cb' },
      { http: upstream.http, secret: noSecrets },
    );
    expect(result.error).toMatchObject({ code: 'step_failed', stepId: 'browser-authorize' });
    expect(upstream.lines()).toHaveLength(1);
  });

  it('pet-coupons buy-available-pet: reusable parameters, then the place-order workflow as a step ($statusCode of its last response)', async () => {
    const { ir } = compile('pet-coupons.arazzo.yaml');
    const upstream = fakeHttp((req) =>
      req.method === 'GET' ? { body: [{ id: 7, name: 'Rex' }] } : { body: { id: 99, petId: 7, status: 'placed' } },
    );
    const result = await runWorkflow(ir, 'buy-available-pet', {}, { http: upstream.http, secret: noSecrets });
    expect(result.error).toBeUndefined();
    expect(result.outputs).toEqual({ buy_pet_order_id: 99 });
    expect(upstream.lines()).toEqual([
      'GET /v1/pet/findByStatus?status=available&page=1&pageSize=10',
      'POST /v1/store/order',
    ]);
    expect(JSON.parse(upstream.requests[1]!.body!)).toEqual({ petId: 7, status: 'placed', complete: false });
    expect(upstream.requests[1]!.headers['content-type']).toBe('application/json');
  });

  it('pet-coupons place-order on its own, and apply-coupon stopping at the path parameter the example misnames', async () => {
    const { ir } = compile('pet-coupons.arazzo.yaml');
    const upstream = fakeHttp((req) => (req.method === 'GET' ? { body: [{ id: 7 }] } : { body: { id: 100 } }));
    const order = await runWorkflow(
      ir,
      'place-order',
      { pet_id: 7, quantity: 2, coupon_code: 'SPRING' },
      { http: upstream.http, secret: noSecrets },
    );
    expect(order.outputs).toEqual({ workflow_order_id: 100 });
    expect(JSON.parse(upstream.requests[0]!.body!)).toEqual({
      petId: 7,
      quantity: 2,
      couponCode: 'SPRING',
      status: 'placed',
      complete: false,
    });

    const coupon = await runWorkflow(
      ir,
      'apply-coupon',
      { my_pet_tags: ['puppy', 'dalmatian'] },
      { http: upstream.http, secret: noSecrets },
    );
    expect(upstream.lines().slice(1)).toEqual(['GET /v1/pet/findByTags?pet_tags=puppy&pet_tags=dalmatian']);
    expect(coupon.error).toMatchObject({
      code: 'request_invalid',
      stepId: 'find-coupons',
      message: expect.stringContaining('petId'),
    });
  });
});

const arazzoDoc = (workflows: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  arazzo: '1.0.1',
  info: { title: 'T', version: '1' },
  sourceDescriptions: [{ name: 'api', url: 'api.yaml', type: 'openapi' }],
  workflows,
  ...extra,
});
const api = {
  openapi: '3.1.0',
  info: { title: 'api', version: '1' },
  servers: [{ url: 'https://api.example/v1' }],
  paths: {
    '/jobs': { post: { operationId: 'createJob', responses: { '202': { description: 'ok' } } } },
    '/jobs/{id}': {
      get: {
        operationId: 'getJob',
        parameters: [{ name: 'id', in: 'path', required: true }],
        responses: { '200': { description: 'ok' } },
      },
    },
  },
};
const apiRefs = { references: [{ location: 'api.yaml', content: api }] };

describe('Arazzo compile-time rules', () => {
  it('accepts retry failure actions without stepId/workflowId (OAI/Arazzo-Specification#341) but still requires a goto target', () => {
    const wf = (onFailure: unknown[]) => [
      { workflowId: 'w', steps: [{ stepId: 's', operationId: 'createJob', onFailure }] },
    ];
    const retry = compileWorkflowDocument(
      arazzoDoc(wf([{ name: 'again', type: 'retry', retryAfter: 1, retryLimit: 3 }])),
      apiRefs,
    );
    expect(retry.ir.workflows[0]!.steps[0]!.onFailure).toEqual([
      { name: 'again', type: 'retry', retryAfterMs: 1000, retryLimit: 3, onExhausted: 'continue', criteria: [] },
    ]);
    const err = compileError(JSON.stringify(arazzoDoc(wf([{ name: 'jump', type: 'goto' }]))), {
      ...apiRefs,
      servers: {},
    });
    expect(
      err.issues.some(
        (i) =>
          i.path === '/workflows/0/steps/0/onFailure/0/stepId' ||
          i.path === '/workflows/0/steps/0/onFailure/0/workflowId',
      ),
    ).toBe(true);
  });

  it('rejects xpath criteria with a clear error naming the criterion', () => {
    const doc = arazzoDoc([
      {
        workflowId: 'w',
        steps: [
          {
            stepId: 's',
            operationId: 'createJob',
            successCriteria: [{ context: '$response.body', condition: '/a', type: 'xpath' }],
          },
        ],
      },
    ]);
    expect(compileError(JSON.stringify(doc), { ...apiRefs, servers: {} }).issues).toEqual([
      {
        path: '/workflows/0/steps/0/successCriteria/0/type',
        message:
          'xpath criteria are not supported (the data plane does not evaluate XML); use a regex or jsonpath criterion',
      },
    ]);
  });

  it('names unknown operations, goto steps, dependsOn workflows and dependency cycles', () => {
    const doc = arazzoDoc([
      { workflowId: 'a', dependsOn: ['b'], steps: [{ stepId: 's', operationId: 'nope' }] },
      {
        workflowId: 'b',
        dependsOn: ['a', 'ghost'],
        steps: [
          { stepId: 's', operationId: 'createJob', onSuccess: [{ name: 'g', type: 'goto', stepId: 'elsewhere' }] },
        ],
      },
    ]);
    const issues = compileError(JSON.stringify(doc), { ...apiRefs, servers: {} }).issues;
    expect(issues).toContainEqual({
      path: '/workflows/0/steps/0/operationId',
      message: 'no operation has the operationId "nope" in api',
    });
    expect(issues).toContainEqual({
      path: '/workflows/1/steps/0/onSuccess/0/stepId',
      message: 'there is no step "elsewhere" in this workflow',
    });
    expect(issues).toContainEqual({
      path: '/workflows/1/dependsOn/1',
      message: 'there is no workflow "ghost" in this document',
    });
    expect(issues.some((i) => i.message.startsWith('dependsOn forms a cycle'))).toBe(true);
  });

  it('resolves reusable success and failure actions from components, step actions first', () => {
    const doc = arazzoDoc(
      [
        {
          workflowId: 'w',
          failureActions: [{ reference: '$components.failureActions.retryLater' }],
          steps: [
            { stepId: 's', operationId: 'createJob', onSuccess: [{ reference: '$components.successActions.done' }] },
          ],
        },
      ],
      {
        components: {
          successActions: { done: { name: 'done', type: 'end' } },
          failureActions: {
            retryLater: {
              name: 'retryLater',
              type: 'retry',
              retryAfter: 2,
              retryLimit: 2,
              criteria: [{ condition: '$statusCode == 503' }],
            },
          },
        },
      },
    );
    const step = compileWorkflowDocument(doc, apiRefs).ir.workflows[0]!.steps[0]!;
    expect(step.onSuccess).toEqual([{ name: 'done', type: 'end', criteria: [] }]);
    expect(step.onFailure).toEqual([
      {
        name: 'retryLater',
        type: 'retry',
        retryAfterMs: 2000,
        retryLimit: 2,
        onExhausted: 'continue',
        criteria: [{ type: 'simple', condition: '$statusCode == 503' }],
      },
    ]);
  });

  it('adds the inputs of dependsOn workflows to the tool input schema', () => {
    const doc = arazzoDoc([
      {
        workflowId: 'login',
        inputs: { type: 'object', properties: { user: { type: 'string' } }, required: ['user'] },
        steps: [{ stepId: 's', operationId: 'createJob' }],
      },
      {
        workflowId: 'work',
        dependsOn: ['login'],
        inputs: { type: 'object', properties: { job: { type: 'string' } } },
        steps: [{ stepId: 's', operationId: 'createJob' }],
      },
    ]);
    const tool = compileWorkflowDocument(doc, apiRefs).tools[1]!;
    expect(tool.inputSchema).toEqual({
      type: 'object',
      properties: { job: { type: 'string' }, user: { type: 'string' } },
      required: ['user'],
    });
  });
});

describe('Arazzo runs', () => {
  it('polls with retry, honouring Retry-After over retryAfter, then follows onSuccess goto and dependsOn outputs', async () => {
    const doc = arazzoDoc([
      {
        workflowId: 'setup',
        steps: [
          {
            stepId: 'create',
            operationId: 'createJob',
            successCriteria: [{ condition: '$statusCode == 202' }],
            outputs: { id: '$response.body#/id' },
          },
        ],
        outputs: { id: '$steps.create.outputs.id' },
      },
      {
        workflowId: 'poll',
        dependsOn: ['setup'],
        steps: [
          {
            stepId: 'get',
            operationId: 'getJob',
            parameters: [{ name: 'id', in: 'path', value: '$workflows.setup.outputs.id' }],
            successCriteria: [
              { context: '$response.body', condition: '$[?@.result]', type: 'jsonpath' },
              { condition: "$response.body#/state == 'DONE'" },
            ],
            onFailure: [
              {
                name: 'wait',
                type: 'retry',
                retryAfter: 5,
                retryLimit: 3,
                criteria: [{ context: '$statusCode', condition: '^20[02]$', type: 'regex' }],
              },
            ],
            outputs: { result: '$response.body#/result' },
          },
        ],
        outputs: { result: '$steps.get.outputs.result', id: '$workflows.setup.outputs.id' },
      },
    ]);
    const { ir } = compileWorkflowDocument(doc, apiRefs);
    let gets = 0;
    const upstream = fakeHttp((req) => {
      if (req.method === 'POST') return { status: 202, body: { id: 'j-1' } };
      gets++;
      if (gets === 1) return { status: 200, headers: { 'retry-after': '1' }, body: { state: 'running' } };
      if (gets === 2) return { status: 202, body: { state: 'running' } };
      return { status: 200, body: { state: 'done', result: 42 } };
    });
    const clock = fakeClock();
    const result = await runWorkflow(ir, 'poll', {}, { http: upstream.http, secret: noSecrets, clock });
    expect(result.error).toBeUndefined();
    // String comparisons in Arazzo conditions are case-insensitive: 'done' matches 'DONE'.
    expect(result.outputs).toEqual({ result: 42, id: 'j-1' });
    expect(upstream.lines()).toEqual(['POST /v1/jobs', 'GET /v1/jobs/j-1', 'GET /v1/jobs/j-1', 'GET /v1/jobs/j-1']);
    expect(clock.sleeps).toEqual([1000, 5000]);
  });

  it('stops retrying at retryLimit and then applies the next failure action (here: end)', async () => {
    const doc = arazzoDoc([
      {
        workflowId: 'w',
        steps: [
          {
            stepId: 'get',
            operationId: 'createJob',
            successCriteria: [{ condition: '$statusCode == 202' }],
            onFailure: [
              { name: 'again', type: 'retry', retryAfter: 0.5, retryLimit: 2 },
              { name: 'stop', type: 'end' },
            ],
            outputs: { status: '$statusCode' },
          },
        ],
        outputs: { status: '$steps.get.outputs.status' },
      },
    ]);
    const { ir } = compileWorkflowDocument(doc, apiRefs);
    const upstream = fakeHttp(() => ({ status: 503 }));
    const clock = fakeClock();
    const result = await runWorkflow(ir, 'w', {}, { http: upstream.http, secret: noSecrets, clock });
    expect(result).toMatchObject({ ok: true, outputs: { status: 503 } });
    expect(upstream.requests).toHaveLength(3);
    expect(clock.sleeps).toEqual([500, 500]);
    expect(result.trace.find((e) => e.name === 'step.run')!.attributes).toMatchObject({
      attempts: 3,
      retries: 2,
      action: 'end',
      outcome: 'failure',
    });
  });

  it('fails with retries_exhausted when no failure action is left after the retries', async () => {
    const doc = arazzoDoc([
      {
        workflowId: 'w',
        steps: [
          {
            stepId: 's',
            operationId: 'createJob',
            onFailure: [{ name: 'again', type: 'retry', retryAfter: 0, retryLimit: 1 }],
          },
        ],
      },
    ]);
    const { ir } = compileWorkflowDocument(doc, apiRefs);
    const upstream = fakeHttp(() => ({ status: 500 }));
    const result = await runWorkflow(ir, 'w', {}, { http: upstream.http, secret: noSecrets, clock: fakeClock() });
    expect(result.error).toMatchObject({ code: 'retries_exhausted', stepId: 's' });
    expect(upstream.requests).toHaveLength(2);
  });

  it('runs the referenced step before retrying when a retry action names one', async () => {
    const doc = arazzoDoc([
      {
        workflowId: 'w',
        steps: [
          { stepId: 'refresh', operationId: 'createJob', outputs: { token: '$response.body#/token' } },
          {
            stepId: 'use',
            operationId: 'getJob',
            parameters: [
              { name: 'id', in: 'path', value: 'x' },
              { name: 'Authorization', in: 'header', value: 'Bearer {$steps.refresh.outputs.token}' },
            ],
            onFailure: [
              {
                name: 'reauth',
                type: 'retry',
                stepId: 'refresh',
                retryAfter: 0,
                retryLimit: 1,
                criteria: [{ condition: '$statusCode == 401' }],
              },
            ],
          },
        ],
      },
    ]);
    const { ir } = compileWorkflowDocument(doc, apiRefs);
    let tokens = 0;
    const upstream = fakeHttp((req) => {
      if (req.method === 'POST') return { body: { token: `t${++tokens}` } };
      return req.headers.authorization === 'Bearer t2' ? { status: 200, body: {} } : { status: 401 };
    });
    const result = await runWorkflow(ir, 'w', {}, { http: upstream.http, secret: noSecrets, clock: fakeClock() });
    expect(result.ok).toBe(true);
    expect(upstream.lines()).toEqual(['POST /v1/jobs', 'GET /v1/jobs/x', 'POST /v1/jobs', 'GET /v1/jobs/x']);
  });

  it('goto a workflow: it runs with the caller’s inputs, then the current workflow ends with its own outputs', async () => {
    const doc = arazzoDoc([
      {
        workflowId: 'main',
        inputs: { type: 'object', properties: { id: { type: 'string' } } },
        steps: [
          {
            stepId: 'create',
            operationId: 'createJob',
            onSuccess: [
              { name: 'handoff', type: 'goto', workflowId: 'fetch', criteria: [{ condition: '$statusCode == 202' }] },
            ],
            outputs: { s: '$statusCode' },
          },
          { stepId: 'never', operationId: 'createJob' },
        ],
        outputs: {
          created: '$steps.create.outputs.s',
          fetched: '$workflows.fetch.outputs.state',
          never: '$steps.never.outputs.x',
        },
      },
      {
        workflowId: 'fetch',
        inputs: { type: 'object', properties: { id: { type: 'string' } } },
        steps: [
          {
            stepId: 'get',
            operationId: 'getJob',
            parameters: [{ name: 'id', in: 'path', value: '$inputs.id' }],
            outputs: { state: '$response.body#/state' },
          },
        ],
        outputs: { state: '$steps.get.outputs.state' },
      },
    ]);
    const { ir } = compileWorkflowDocument(doc, apiRefs);
    const upstream = fakeHttp((req) =>
      req.method === 'POST' ? { status: 202, body: {} } : { body: { state: 'queued' } },
    );
    const result = await runWorkflow(ir, 'main', { id: 'j-3' }, { http: upstream.http, secret: noSecrets });
    expect(result.outputs).toEqual({ created: 202, fetched: 'queued' });
    expect(upstream.lines()).toEqual(['POST /v1/jobs', 'GET /v1/jobs/j-3']);
    expect(result.trace.find((e) => e.stepId === 'create' && e.name === 'step.run')!.attributes).toMatchObject({
      action: 'goto',
      target: 'fetch',
    });
  });

  it('$components, $sourceDescriptions, $request and $method expressions', async () => {
    const doc = arazzoDoc(
      [
        {
          workflowId: 'w',
          steps: [
            {
              stepId: 's',
              operationId: 'getJob',
              parameters: [
                { name: 'id', in: 'path', value: '$components.parameters.jobId.value' },
                { name: 'X-Source', in: 'header', value: '$sourceDescriptions.api.url' },
              ],
              outputs: {
                sentId: '$request.path.id',
                method: '$method',
                url: '$url',
                header: '$request.header.x-source',
                queryNone: '$request.query.nope',
              },
            },
          ],
          outputs: { all: '$steps.s.outputs' },
        },
      ],
      { components: { parameters: { jobId: { name: 'id', in: 'path', value: 'j-7' } } } },
    );
    const { ir } = compileWorkflowDocument(doc, apiRefs);
    const upstream = fakeHttp(() => ({ body: {} }));
    const result = await runWorkflow(ir, 'w', {}, { http: upstream.http, secret: noSecrets });
    expect(result.outputs).toEqual({
      all: { sentId: 'j-7', method: 'GET', url: 'https://api.example/v1/jobs/j-7', header: 'api.yaml' },
    });
  });
});

describe('sources bound to a connector instance', () => {
  const secured = {
    ...api,
    components: {
      securitySchemes: {
        key: { type: 'apiKey', in: 'header', name: 'X-Key' },
        token: { type: 'apiKey', in: 'query', name: 'token' },
      },
    },
    security: [{ key: [] }],
    paths: {
      ...api.paths,
      '/jobs': {
        post: { operationId: 'createJob', security: [{ token: [] }], responses: { '202': { description: 'ok' } } },
      },
    },
  };
  const doc = arazzoDoc([
    {
      workflowId: 'w',
      steps: [
        { stepId: 'make', operationId: 'createJob' },
        { stepId: 'read', operationId: 'getJob', parameters: [{ name: 'id', in: 'path', value: 'j-1' }] },
      ],
    },
  ]);
  const refs = { references: [{ location: 'api.yaml', content: secured }] };

  it('gives each step its operation’s credential templates and the instance’s base URL', () => {
    const { ir } = compileWorkflowDocument(doc, {
      ...refs,
      connectors: { api: { baseUrl: 'https://eu.api.example/' } },
    });
    const targets = ir.workflows[0]!.steps.map((s) => s.target);
    expect(targets).toEqual([
      expect.objectContaining({
        url: 'https://eu.api.example/jobs',
        credentials: { origin: 'https://eu.api.example', query: { token: '{token}' } },
      }),
      expect.objectContaining({
        url: 'https://eu.api.example/jobs/{id}',
        credentials: { origin: 'https://eu.api.example', headers: { 'X-Key': '{key}' } },
      }),
    ]);
  });

  it('keeps a relative server after the base URL, and adds nothing to unbound sources', () => {
    const relative = { ...secured, servers: [{ url: '/v2' }] };
    const bound = compileWorkflowDocument(doc, {
      references: [{ location: 'api.yaml', content: relative }],
      connectors: { api: { baseUrl: 'https://eu.api.example' } },
    });
    expect(bound.ir.workflows[0]!.steps[0]!.target).toMatchObject({ url: 'https://eu.api.example/v2/jobs' });
    const unbound = compileWorkflowDocument(doc, refs);
    expect(unbound.ir.workflows[0]!.steps.map((s) => 'credentials' in s.target)).toEqual([false, false]);
  });

  it('refuses a servers override for a source bound to an instance: its credentials only go to its base URL', () => {
    const elsewhere = { api: 'https://collector.attacker.example/' };
    const withBase = compileError(JSON.stringify(doc), {
      ...refs,
      servers: elsewhere,
      connectors: { api: { baseUrl: 'https://eu.api.example/', instance: 'eu' } },
    });
    expect(withBase.issues).toEqual([
      {
        path: '/servers/api',
        message:
          'source "api" uses the credentials of connector instance "eu", which are only sent to its base URL ' +
          '(https://eu.api.example): a servers override cannot send them elsewhere; remove it, or change the instance’s base_url',
      },
    ]);
    // Without a base URL on the instance: the server of the connector's own document decides.
    const withoutBase = compileError(JSON.stringify(doc), {
      ...refs,
      servers: elsewhere,
      connectors: { api: { instance: 'us' } },
    });
    expect(withoutBase.issues).toEqual([
      {
        path: '/servers/api',
        message:
          'source "api" uses the credentials of connector instance "us", which are only sent to its base URL ' +
          '(the servers of its connector’s document, as it has none): a servers override cannot send them elsewhere; ' +
          'remove it, or change the instance’s base_url',
      },
    ]);
    // An override for a source bound to nothing stays what it was: the deployment's choice of server.
    const unbound = compileWorkflowDocument(doc, { ...refs, servers: elsewhere });
    expect(unbound.ir.workflows[0]!.steps[0]!.target).toMatchObject({
      url: 'https://collector.attacker.example/jobs',
    });
  });

  it('binds the credentials to the instance’s origin: a server path never moves them, a host that is not fixed is refused', () => {
    // A relative server (even without its leading slash) is a path below the base URL, never glued to its host.
    const noSlash = compileWorkflowDocument(doc, {
      references: [{ location: 'api.yaml', content: { ...secured, servers: [{ url: 'v2' }] } }],
      connectors: { api: { baseUrl: 'https://eu.api.example' } },
    });
    expect(noSlash.ir.workflows[0]!.steps[1]!.target).toMatchObject({
      url: 'https://eu.api.example/v2/jobs/{id}',
      credentials: { origin: 'https://eu.api.example' },
    });
    // Without a base URL, a host left to a server variable (no default) or a runtime expression has no fixed origin:
    // the steps calling its operations are refused, naming why.
    for (const url of ['https://{region}.api.example/v1', 'https://{$inputs.host}/v1', '/v1']) {
      const err = compileError(JSON.stringify(doc), {
        references: [{ location: 'api.yaml', content: { ...secured, servers: [{ url }] } }],
        connectors: { api: { instance: 'eu' } },
      });
      expect(err.issues).toContainEqual({
        path: '/workflows/0/steps/0/operationId',
        message:
          `operation createJob of source "api" is served at ${url}, which has no fixed origin: the credentials of ` +
          'connector instance "eu" are only sent to its base URL (set the instance’s base_url)',
      });
    }
    // The same with the instance's base URL: fine, the base URL decides.
    const based = compileWorkflowDocument(doc, {
      references: [
        { location: 'api.yaml', content: { ...secured, servers: [{ url: 'https://{region}.api.example/v1' }] } },
      ],
      connectors: { api: { baseUrl: 'https://eu.api.example/' } },
    });
    expect(based.ir.workflows[0]!.steps[0]!.target).toMatchObject({ url: 'https://eu.api.example/jobs' });
    // A base URL whose host is not fixed binds nothing.
    const templated = compileError(JSON.stringify(doc), {
      ...refs,
      connectors: { api: { baseUrl: 'https://{tenant}.api.example', instance: 'eu' } },
    });
    expect(templated.issues).toContainEqual({
      path: '/sourceDescriptions/0/url',
      message:
        'the base URL of connector instance "eu" (https://{tenant}.api.example) is not an absolute http(s) URL ' +
        'with a fixed host: its credentials cannot be bound to it',
    });
  });

  it('refuses a Host header on a step that sends the instance’s credentials (not on an operation without any)', () => {
    const hosted = (operationId: string) =>
      JSON.stringify(
        arazzoDoc([
          {
            workflowId: 'w',
            steps: [
              {
                stepId: 's',
                operationId,
                parameters: [
                  { name: 'id', in: 'path', value: 'j-1' },
                  { name: 'Host', in: 'header', value: 'collector.attacker.example' },
                ],
              },
            ],
          },
        ]),
      );
    expect(compileError(hosted('getJob'), { ...refs, connectors: { api: {} } }).issues).toEqual([
      {
        path: '/workflows/0/steps/0/parameters/1/name',
        message:
          'a step sending the credentials of the connector instance of source "api" cannot set the Host header ' +
          '(they are only sent to the instance’s own site)',
      },
    ]);
    const open = { ...secured, paths: { '/jobs/{id}': { get: { ...api.paths['/jobs/{id}'].get, security: [] } } } };
    expect(() =>
      compileWorkflowDocument(hosted('getJob'), {
        references: [{ location: 'api.yaml', content: open }],
        connectors: { api: {} },
      }),
    ).not.toThrow();
  });

  it('hands the templates to the HTTP dependency with the source name, never values', async () => {
    const { ir } = compileWorkflowDocument(doc, { ...refs, connectors: { api: {} } });
    const seen: unknown[] = [];
    await runWorkflow(
      ir,
      'w',
      {},
      {
        http: async (req) => {
          seen.push(req.credentials);
          return { status: 200, headers: {}, body: '{}', size: 2 };
        },
        secret: noSecrets,
      },
    );
    // Bound to the origin of the connector document's server (the instance has no base URL).
    expect(seen).toEqual([
      { source: 'api', origin: 'https://api.example', query: { token: '{token}' } },
      { source: 'api', origin: 'https://api.example', headers: { 'X-Key': '{key}' } },
    ]);
  });

  it('lists the source descriptions no reference answers (what a deployment fetches or looks up)', () => {
    const two = arazzoDoc([{ workflowId: 'w', steps: [{ stepId: 's', operationId: 'createJob' }] }], {
      sourceDescriptions: [
        { name: 'api', url: 'https://docs.example/api.yaml', type: 'openapi' },
        { name: 'vault', url: 'toolplane:connectors/vault', type: 'openapi' },
        { name: 'flows', url: 'https://docs.example/flows.arazzo.yaml', type: 'arazzo' },
      ],
    });
    expect(unresolvedSources(JSON.stringify(two), [])).toEqual([
      { index: 0, name: 'api', url: 'https://docs.example/api.yaml' },
      { index: 1, name: 'vault', url: 'toolplane:connectors/vault' },
    ]);
    // An uploaded document answers by its file name, as before.
    expect(unresolvedSources(two, [{ location: 'api.yaml', content: api }])).toEqual([
      { index: 1, name: 'vault', url: 'toolplane:connectors/vault' },
    ]);
    expect(unresolvedSources('flower: "0.1"', [])).toEqual([]);
    expect(unresolvedSources('{ not yaml', [])).toEqual([]);
  });
});
