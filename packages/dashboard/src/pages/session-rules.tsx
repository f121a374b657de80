import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction } from '../components/action.ts';
import { CodeArea, FormEnd, TextField } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { FormSection, Section } from '../components/section.tsx';
import { WouldBeDecisions } from '../components/would-be-decisions.tsx';
import { BacktestButton } from '../components/backtest-button.tsx';
import { namesOf, sessionFile, type RuleFile } from '../rule-files.ts';
import { useMay, Writable } from '../powers.tsx';
import { Show, useLoad } from '../ui.tsx';

type Settings = Schemas['SessionSettings'];
type Rule = Settings['rules'][number];
type Body = Schemas['PutSessionSettingsBody'];

/** Who approves, in words: keys by id, subjects, groups, people. */
function approversText(r: Rule): string {
  const a = r.approval?.approvers;
  if (!a) return '—';
  const parts = [
    a.apiKeys?.length ? `API keys ${a.apiKeys.join(', ')}` : '',
    a.subjects?.length ? `subjects ${a.subjects.join(', ')}` : '',
    a.groups?.length ? `groups ${a.groups.join(', ')}` : '',
    a.people?.length ? `people ${a.people.join(', ')}` : '',
  ].filter(Boolean);
  return parts.join('; ') || '—';
}

function RulesTable({ rules }: { rules: Rule[] }) {
  const columns: Column<Rule>[] = [
    { header: 'Rule', cell: (r) => r.name ?? r.id },
    { header: 'After', cell: (r) => r.after.join(' or ') },
    { header: 'Calls of tools', cell: (r) => r.toolLabels.join(' or ') },
    { header: 'Action', cell: (r) => (r.action === 'refuse' ? 'refuse' : 'require approval') },
    { header: 'Approvers', cell: approversText },
    { header: 'Mode', cell: (r) => (r.enforce ? 'enforced' : 'log only') },
  ];
  return (
    <ResourceTable
      rows={rules}
      columns={columns}
      caption="Session rules of the workspace"
      empty="No session rule: labels are kept, nothing is judged by them."
    />
  );
}

/** The rules as `PUT /session_settings` takes them: each approval rule without its version. */
function rulesText(rules: Rule[]): string {
  const body = rules.map(({ approval, ...rest }) =>
    approval
      ? {
          ...rest,
          approval: {
            approvers: approval.approvers,
            approvals: approval.approvals,
            expiresInSeconds: approval.expiresInSeconds,
          },
        }
      : rest,
  );
  return JSON.stringify(body, null, 2);
}

/** The form's settings as `session.yaml`, to try on past calls; none while the rules are not a JSON list. */
function proposed(ttl: string, rules: string, apiKeys: { id: string; name: string }[]): RuleFile[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(rules);
  } catch {
    return [];
  }
  if (!Array.isArray(parsed)) return [];
  return [sessionFile({ ttlSeconds: Number(ttl), rules: parsed as Body['rules'] }, namesOf({ apiKeys }))];
}

function EditSettings({
  client,
  settings,
  saved,
  onSaved,
}: {
  client: ManagementClient;
  settings: Settings;
  saved: string | null;
  onSaved: (message: string) => void;
}) {
  const [ttl, setTtl] = useState(String(settings.ttlSeconds ?? 86_400));
  const [rules, setRules] = useState(rulesText(settings.rules));
  // The approvers' keys by name, as session.yaml names them.
  const [keys] = useLoad(() => unwrap(client.GET('/api_keys')), [client]);
  const save = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.run(
      async () => {
        const body = { ttlSeconds: Number(ttl), rules: JSON.parse(rules) as Body['rules'] };
        return unwrap(client.PUT('/session_settings', { body }));
      },
      {
        then: () => onSaved('Saved: every edge and worker has them within a second.'),
      },
    );
  };
  return (
    <FormSection id="edit-session-settings" title="Change the session settings" onSubmit={submit} done={saved}>
      <TextField
        id="session-ttl"
        label="How long a session keeps its labels after its last labelled call (seconds, 60 to 2592000)"
        type="number"
        min={60}
        step={1}
        required
        value={ttl}
        onValue={setTtl}
      />
      <CodeArea
        id="session-rules-json"
        label="Rules (JSON, as PUT /session_settings takes them)"
        value={rules}
        onValue={setRules}
        rows={16}
      />
      <FormEnd action={save} failed="Not saved" busyLabel="Saving…">
        Save session settings
      </FormEnd>
      {/* Nothing to try until the keys are known (the file names approvers by name); if they cannot be read, by id. */}
      <BacktestButton
        client={client}
        documents={keys.state === 'loading' ? [] : proposed(ttl, rules, keys.state === 'done' ? keys.data.data : [])}
      />
    </FormSection>
  );
}

/**
 * Rules that see the session (ADR 0078, docs/governance.md "Rules that see the session"): after private or untrusted
 * content entered a caller's session, a call of a tool that sends data out is refused or needs approval. The rules, and
 * (for an admin) a form replacing them whole; what log-only rules would have done.
 */
export function SessionRulesPage({ client }: { client: ManagementClient }) {
  const [refresh, setRefresh] = useState(0);
  // The outcome, kept here: the form is made anew from the saved settings.
  const [saved, setSaved] = useState<string | null>(null);
  const [loaded] = useLoad(() => unwrap(client.GET('/session_settings')), [client], refresh);
  // The would-be decisions are audit events: shown to those who read the trail.
  const readsTrail = useMay('trail', 'read');
  return (
    <>
      <h1>Session rules</h1>
      <p className="hint">
        What a caller already read decides what it may send: a session (an API key’s, a person’s) keeps the labels its
        results brought (private data, untrusted content), and these rules judge each call of a tool that sends data out
        by them.
      </p>
      <Show loaded={loaded} what="the session settings">
        {(settings) => (
          <>
            <Section id="session-rules" title="Rules">
              <p>
                {settings.configured
                  ? `A session keeps its labels ${settings.ttlSeconds} s after its last labelled call.`
                  : 'This workspace keeps no session (it has no session settings).'}
              </p>
              <RulesTable rules={settings.rules} />
            </Section>
            <Writable area="policies">
              <EditSettings
                key={settings.updatedAt ?? 'none'}
                client={client}
                settings={settings}
                saved={saved}
                onSaved={(message) => {
                  setSaved(message);
                  setRefresh((n) => n + 1);
                }}
              />
            </Writable>
            {readsTrail && (
              <WouldBeDecisions
                client={client}
                action={['session.would_hold', 'session.would_refuse']}
                title="Would-be holds and refusals (last 24 h)"
                rules={settings.rules}
              />
            )}
          </>
        )}
      </Show>
    </>
  );
}
