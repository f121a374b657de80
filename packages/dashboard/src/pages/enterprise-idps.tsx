import { useState, type FormEvent, type ReactNode } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { useAction } from '../components/action.ts';
import { Success, TextField, FormEnd } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { OneTimeKey, useLoad } from '../ui.tsx';
import { ChangeAndDelete, useEditedRow } from '../components/delete-button.tsx';
import { byId, FormAndList, useRowDelete } from '../components/list-page.tsx';
import { FormSection } from '../components/section.tsx';

type Idp = Schemas['EnterpriseIdp'];
type Fields = { name: string; issuer: string; jwksUrl: string; clientId: string; userClaim: string };

/** A change four eyes on loosening holds (202, ADR 0079): its change request. */
type Held = { status: 'waits_for_approval'; changeRequest: { id: string } };
const heldOf = (answer: unknown): Held | undefined =>
  (answer as { status?: unknown }).status === 'waits_for_approval' ? (answer as Held) : undefined;

/** What a change did: applied, or waiting for another person's approval (with its change request's link). */
function outcome(answer: unknown, applied: string): ReactNode {
  const held = heldOf(answer);
  if (!held) return applied;
  const id = held.changeRequest.id;
  return (
    <>
      It lets people in, so it waits for another person’s approval {id}:{' '}
      <Link href={`/change-requests/${id}`}>its change request</Link>. Nothing changes until then.
    </>
  );
}

/** The fields of an IdP, shared by the add and change forms. */
function IdpFields({ id, value, onValue }: { id: string; value: Fields; onValue: (v: Fields) => void }) {
  const set = (k: keyof Fields) => (v: string) => onValue({ ...value, [k]: v });
  return (
    <>
      <TextField id={`${id}-name`} label="Name" required maxLength={200} value={value.name} onValue={set('name')} />
      <TextField id={`${id}-issuer`} label="Issuer" type="url" required value={value.issuer} onValue={set('issuer')} />
      <TextField
        id={`${id}-jwks`}
        label="JWKS URL"
        type="url"
        required
        value={value.jwksUrl}
        onValue={set('jwksUrl')}
      />
      <TextField
        id={`${id}-client`}
        label="Client id"
        required
        maxLength={500}
        value={value.clientId}
        onValue={set('clientId')}
      />
      <TextField
        id={`${id}-claim`}
        label="Claim naming the external user"
        required
        maxLength={200}
        value={value.userClaim}
        onValue={set('userClaim')}
      />
    </>
  );
}

const trimmed = (f: Fields): Fields => ({
  name: f.name.trim(),
  issuer: f.issuer.trim(),
  jwksUrl: f.jwksUrl.trim(),
  clientId: f.clientId.trim(),
  userClaim: f.userClaim.trim(),
});

const empty: Fields = { name: '', issuer: '', jwksUrl: '', clientId: '', userClaim: 'sub' };

/** The client secret of an IdP just added (or rotated), shown once. */
function NewSecret({ idp, onDone }: { idp: { name: string; clientSecret: string }; onDone: () => void }) {
  return (
    <OneTimeKey
      id="idp-secret"
      title={`Client secret of ${idp.name}`}
      label={`The client secret of ${idp.name}`}
      value={idp.clientSecret}
      onDone={onDone}
    >
      <strong>Copy it now: it is shown only this once.</strong> The MCP client authenticates with it when it redeems
      this IdP’s ID-JAGs; rotate it to get another.
    </OneTimeKey>
  );
}

function AddIdp({ client, onAdded }: { client: ManagementClient; onAdded: () => void }) {
  const [fields, setFields] = useState(empty);
  const [secret, setSecret] = useState<{ name: string; clientSecret: string } | null>(null);
  const [done, setDone] = useState<ReactNode>(null);
  const add = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setSecret(null);
    setDone(null);
    const body = trimmed(fields);
    add.run(() => unwrap(client.POST('/enterprise_idps', { body })), {
      then: (answer) => {
        setFields(empty);
        setDone(outcome(answer, `Added ${body.name}.`));
        if (!heldOf(answer) && answer.clientSecret) setSecret({ name: answer.name, clientSecret: answer.clientSecret });
        onAdded();
      },
    });
  };
  return (
    <FormSection
      id="add-idp"
      title="Add an enterprise IdP"
      onSubmit={submit}
      done={done}
      after={secret && <NewSecret idp={secret} onDone={() => setSecret(null)} />}
    >
      <IdpFields id="idp" value={fields} onValue={setFields} />
      <FormEnd action={add} failed="Not added" busyLabel="Adding…">
        Add IdP
      </FormEnd>
    </FormSection>
  );
}

/** Changes one IdP: the fields changed are sent; a new client secret on demand. */
function EditIdp({ client, idp, onDone }: { client: ManagementClient; idp: Idp; onDone: (m: ReactNode) => void }) {
  const [fields, setFields] = useState<Fields>(idp);
  const [secret, setSecret] = useState<{ name: string; clientSecret: string } | null>(null);
  const save = useAction();
  const patch = (body: Schemas['UpdateEnterpriseIdpBody'], applied: string) =>
    save.run(() => unwrap(client.PATCH('/enterprise_idps/{id}', { params: { path: { id: idp.id } }, body })), {
      then: (answer) => {
        if (answer.clientSecret) setSecret({ name: answer.name, clientSecret: answer.clientSecret });
        onDone(outcome(answer, applied));
      },
    });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next = trimmed(fields);
    const body = Object.fromEntries(Object.entries(next).filter(([k, v]) => idp[k as keyof Fields] !== v));
    patch(body, `Saved ${next.name}.`);
  };
  const id = `edit-${idp.id}`;
  return (
    <section aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>Change {idp.name}</h3>
      <form className="form" onSubmit={submit}>
        <IdpFields id={id} value={fields} onValue={setFields} />
        <FormEnd action={save} failed="Not saved" busyLabel="Saving…">
          Save changes
        </FormEnd>
      </form>
      <button
        type="button"
        className="secondary"
        disabled={save.busy}
        onClick={() => patch({ rotateSecret: true }, `New client secret for ${idp.name}.`)}
      >
        Rotate the client secret of {idp.name}
      </button>
      {secret && <NewSecret idp={secret} onDone={() => setSecret(null)} />}
    </section>
  );
}

const columns: Column<Idp>[] = [
  { header: 'Name', cell: (i) => i.name },
  { header: 'Issuer', cell: (i) => <code>{i.issuer}</code> },
  { header: 'JWKS URL', cell: (i) => <code>{i.jwksUrl}</code> },
  { header: 'Client id', cell: (i) => <code>{i.clientId}</code> },
  { header: 'External user from', cell: (i) => <code>{i.userClaim}</code> },
];

/**
 * Enterprise IdPs (ADR 0082, docs/identity.md): the identity providers whose ID-JAGs the edges redeem for access
 * tokens to this workspace's MCP servers. Adding one or changing what its ID-JAGs are checked against lets people in:
 * with four eyes on loosening it waits for another person's approval, and the page links its change request.
 */
export function EnterpriseIdpsPage({ client }: { client: ManagementClient }) {
  const [list, reload] = useLoad(() => unwrap(client.GET('/enterprise_idps')).then((r) => r.data), [client]);
  const [done, setDone] = useState<ReactNode>(null);
  const { editing, setEditing, edited } = useEditedRow(list);
  const { error, ...deletion } = useRowDelete((id) => unwrap(client.DELETE('/enterprise_idps/{id}', byId(id))), reload);
  const report = (message: ReactNode) => {
    setDone(message);
    reload();
  };
  const actions = (i: Idp) => (
    <ChangeAndDelete
      row={i}
      editing={editing}
      onEditing={setEditing}
      deletion={deletion}
      verb="Remove"
      then="Its ID-JAGs are refused at once."
    />
  );
  return (
    <>
      <h1>Enterprise IdPs</h1>
      <p className="hint">
        Enterprise-managed authorization: an MCP client trades a person’s sign-in at the company’s identity provider for
        an ID-JAG and redeems it at the edge for a short-lived token to one MCP server, as the external user the claim
        names (their connections, policies, quotas and audit apply). Adding an IdP or changing its issuer, keys, client
        or claim lets people in: with four eyes on loosening, it waits for another person’s approval.
      </p>
      <FormAndList
        form={<AddIdp client={client} onAdded={reload} />}
        between={<Success>{done}</Success>}
        section={{ id: 'idps', title: 'Enterprise IdPs of the workspace', failed: 'Not removed' }}
        failure={error}
      >
        <ResourceTable
          loaded={list}
          what="the enterprise IdPs"
          columns={columns}
          actions={actions}
          caption="Enterprise IdPs"
          empty="No enterprise IdP yet."
        />
        {edited && <EditIdp key={`${edited.id}-${edited.updatedAt}`} client={client} idp={edited} onDone={report} />}
      </FormAndList>
    </>
  );
}
