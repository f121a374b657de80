import { describe, expect, it } from '@jest/globals';
import { ValidationError } from '@toolplane/errors';
import { parse } from 'yaml';
import { compileWorkflowDocument } from './document.ts';
import { runWorkflow } from './engine.ts';
import { fakeClock, fakeHttp, fixture, secretsFrom } from './test-support.ts';

function compileError(text: string): ValidationError {
  try {
    compileWorkflowDocument(text);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('Flower examples of the specification', () => {
  it('compile into one tool per flow, with object input and output schemas', () => {
    const bump = compileWorkflowDocument(fixture('flower/bump.yml'));
    expect(bump.tools).toEqual([
      {
        workflowId: 'diff',
        name: 'diff',
        description: 'Get a diff between 2 API contracts',
        inputSchema: {
          type: 'object',
          properties: {
            left_url: { type: 'string', description: 'First API contract URL' },
            right_url: { type: 'string', description: 'Second API contract URL' },
          },
          required: ['left_url', 'right_url'],
        },
        outputSchema: { type: 'object', properties: { breaking: {}, result: {} }, additionalProperties: false },
      },
    ]);
    expect(compileWorkflowDocument(fixture('flower/weather.yml')).tools.map((t) => t.name)).toEqual([
      'weather_current',
      'weather_forecast',
    ]);
    const parking = compileWorkflowDocument(fixture('flower/parking.yml'));
    expect(parking.tools[0]!.inputSchema.required).toEqual(['parking']);
    expect(parking.warnings).toEqual([]);
  });

  it('reject the invalid examples with errors naming the offending path', () => {
    expect(compileError(fixture('flower/invalid/actions.yml')).issues).toEqual([
      { path: '/flows/0/steps/0/actions/0/do', message: 'must be one of "next", "retry", "goto", "end"' },
    ]);
    expect(compileError(fixture('flower/invalid/request.yml')).issues).toEqual([
      { path: '/flows/0/steps/0/request/whatever', message: 'is not an allowed property here' },
    ]);
    const test = compileError(fixture('flower/invalid/test.yml')).issues;
    expect(test).toContainEqual({ path: '/id', message: 'is required' });
    expect(test).toContainEqual({ path: '/flower', message: 'must be string' });
  });

  it('bump.yml: creates a diff, polls it while the API answers 202 (waiting 2 s), then posts the raw body', async () => {
    const { ir } = compileWorkflowDocument(fixture('flower/bump.yml'));
    let polls = 0;
    const upstream = fakeHttp((req) => {
      if (req.method === 'POST') return { status: 201, body: { id: polls === 0 ? 'd-1' : 'd-2' } };
      polls++;
      return polls < 3
        ? { status: 202, body: { id: 'd-1' } }
        : { status: 200, body: { id: 'd-1', markdown: '## Changes', breaking: true } };
    });
    const clock = fakeClock();
    const result = await runWorkflow(
      ir,
      'diff',
      { left_url: 'https://a.example/v1.yml', right_url: 'https://a.example/v2.yml' },
      { http: upstream.http, secret: secretsFrom({}), clock },
    );
    expect(result.error).toBeUndefined();
    expect(result.outputs).toEqual({ breaking: true, result: '## Changes' });
    expect(upstream.lines()).toEqual([
      'POST /api/v1/diffs',
      'GET /api/v1/diffs/d-1',
      'GET /api/v1/diffs/d-1',
      'GET /api/v1/diffs/d-1',
      'POST /api/v1/diffs',
    ]);
    expect(clock.sleeps).toEqual([2000, 2000]);
    const [create, , , , raw] = upstream.requests;
    expect(create!.url.host).toBe('bump.sh');
    expect(create!.headers['x-constant']).toBe('3');
    expect(create!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(create!.body!)).toEqual({
      previous_url: 'https://a.example/v1.yml',
      url: 'https://a.example/v2.yml',
    });
    expect(JSON.parse(raw!.body!)).toEqual({
      previous_url: 'https://a.example/v1.yml',
      url: 'https://a.example/v2.yml',
    });
    expect(raw!.headers['content-type']).toBe('application/json');
  });

  it('parking.yml: sends the pre-encoded refine filter once encoded and reads results.0', async () => {
    const { ir } = compileWorkflowDocument(fixture('flower/parking.yml'));
    const upstream = fakeHttp(() => ({
      body: { total_count: 1, results: [{ nom: 'Berges De Maine', disponible: 142 }] },
    }));
    const result = await runWorkflow(
      ir,
      'available_slots',
      { parking: 'Berges De Maine' },
      { http: upstream.http, secret: secretsFrom({}) },
    );
    expect(result.outputs).toEqual({ remaining_slots: 142 });
    const req = upstream.requests[0]!;
    expect(`${req.url.origin}${req.url.pathname}`).toBe(
      'https://data.angers.fr/api/explore/v2.1/catalog/datasets/parking-angers/records',
    );
    expect(req.url.searchParams.get('limit')).toBe('20');
    expect(req.url.searchParams.get('refine')).toBe('nom:"Berges De Maine"');
  });

  it('weather.yml: geocodes, then feeds lat/lon to the forecast; interpolates two values into one output', async () => {
    const { ir } = compileWorkflowDocument(fixture('flower/weather.yml'));
    const upstream = fakeHttp((req) =>
      req.url.host === 'nominatim.openstreetmap.org'
        ? { body: [{ lat: '47.4739', lon: '-0.5517', display_name: 'Angers' }] }
        : {
            body: {
              current: { temperature_2m: 12.3, rain: 0.2, snowfall: 0 },
              current_units: { temperature_2m: '°C' },
              daily: {
                temperature_2m_min: [4.1, 5],
                temperature_2m_max: [13, 14.2],
                rain_sum: [0, 1.5],
                snowfall_sum: [0, 0],
              },
            },
          },
    );
    const current = await runWorkflow(
      ir,
      'weather_current',
      { city: 'Angers' },
      { http: upstream.http, secret: secretsFrom({}) },
    );
    expect(current.outputs).toEqual({ temperature: '12.3 °C', rain: 0.2, snowfall: 0 });
    const [geo, meteo] = upstream.requests;
    expect(geo!.url.searchParams.get('q')).toBe('Angers');
    expect(geo!.url.searchParams.get('format')).toBe('jsonv2');
    expect(meteo!.url.searchParams.get('latitude')).toBe('47.4739');
    expect(meteo!.url.searchParams.get('longitude')).toBe('-0.5517');
    expect(meteo!.url.searchParams.get('current')).toBe('temperature_2m,is_day,wind_speed_10m,rain,showers,snowfall');
    expect(meteo!.url.searchParams.get('timezone')).toBe('Europe/Berlin');

    const forecast = await runWorkflow(
      ir,
      'weather_forecast',
      { city: 'Angers' },
      { http: upstream.http, secret: secretsFrom({}) },
    );
    expect(forecast.outputs).toEqual({
      temperature_min: [4.1, 5],
      temperature_max: [13, 14.2],
      rain: [0, 1.5],
      snowfall: [0, 0],
    });
    expect(upstream.requests[3]!.url.searchParams.get('daily')).toBe(
      'rain_sum,snowfall_sum,temperature_2m_min,temperature_2m_max',
    );
  });
});

const flowerDoc = (flows: unknown[]): string => JSON.stringify({ flower: '0.1', id: 'doc', flows });
const step = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id,
  request: { method: 'GET', url: `https://api.example/${id}` },
  ...extra,
});

describe('Flower compile-time checks', () => {
  it('names the path of a goto to a step the flow does not have', () => {
    const err = compileError(
      flowerDoc([{ id: 'f', steps: [step('a', { actions: [{ do: 'goto', step: 'nowhere' }] })] }]),
    );
    expect(err.issues).toEqual([
      { path: '/flows/0/steps/0/actions/0/step', message: 'there is no step "nowhere" in this flow' },
    ]);
  });

  it('names duplicate flow and step ids', () => {
    const err = compileError(
      flowerDoc([
        { id: 'f', steps: [step('a'), step('a')] },
        { id: 'f', steps: [step('b')] },
      ]),
    );
    expect(err.issues).toEqual([
      { path: '/flows/0/steps/1/id', message: 'another step of this flow already has the id "a"' },
      { path: '/flows/1/id', message: 'another flow already has the id "f"' },
    ]);
  });

  it('names a `when` that does not parse and a reference to an unknown step', () => {
    const err = compileError(
      flowerDoc([
        {
          id: 'f',
          steps: [
            step('a', {
              actions: [{ when: '$statusCode === 200', do: 'next' }],
              outputs: { x: '$steps.ghost.outputs.y' },
            }),
          ],
        },
      ]),
    );
    expect(err.issues.map((i) => i.path)).toEqual(['/flows/0/steps/0/actions/0/when', '/flows/0/steps/0/outputs/x']);
    expect(err.issues[1]!.message).toContain('does not have');
  });

  it('rejects an invalid JMESPath query, naming where it is', () => {
    const err = compileError(
      flowerDoc([{ id: 'f', steps: [step('a', { outputs: { x: '$response.body.items[?' } })] }]),
    );
    expect(err.issues[0]!.path).toBe('/flows/0/steps/0/outputs/x');
    expect(err.issues[0]!.message).toMatch(/JMESPath/);
  });

  it('rejects inputs that are not an object schema, and documents that are neither Flower nor Arazzo', () => {
    expect(compileError(flowerDoc([{ id: 'f', inputs: { type: 'string' }, steps: [step('a')] }])).issues).toEqual([
      {
        path: '/flows/0/inputs/type',
        message: 'the inputs of a workflow must be an object schema (tool arguments are an object)',
      },
    ]);
    expect(compileError('openapi: 3.1.0').issues[0]!.message).toMatch(/flower.*arazzo/);
  });

  it('collects the secret names a flow uses (never values)', () => {
    const { ir } = compileWorkflowDocument(
      flowerDoc([
        {
          id: 'f',
          steps: [
            step('a', {
              request: {
                method: 'GET',
                url: 'https://api.example/a',
                headers: { Authorization: 'Bearer $secrets.API_KEY' },
              },
            }),
          ],
        },
      ]),
    );
    expect(ir.workflows[0]!.secrets).toEqual(['API_KEY']);
  });

  it('keeps x- extensions valid anywhere the schema allows them', () => {
    const doc = parse(flowerDoc([{ id: 'f', steps: [step('a')] }])) as Record<string, unknown>;
    doc['x-owner'] = { team: 'apis' };
    expect(compileWorkflowDocument(doc).tools).toHaveLength(1);
  });
});
