import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { RowDeleteButton, type RowDeletion } from '../../components/delete-button.tsx';
import { type Detector, type Guardrail, type Server } from './fields.tsx';

export const serverName = (servers: Server[], id: string) => servers.find((s) => s.id === id)?.name ?? id;

function scopeText(g: Guardrail, servers: Server[]): string {
  if (!g.serverId) return 'every server';
  const name = serverName(servers, g.serverId);
  return g.tools.length > 0 ? `${g.tools.join(', ')} on ${name}` : `all tools of ${name}`;
}

function detectorText(d: Detector): string {
  if (d.kind === 'pii') return d.types ? `personal data (${d.types.join(', ')})` : 'personal data';
  if (d.kind === 'custom') return `${d.label ?? 'custom'}: ${d.patterns.length} pattern(s)`;
  return d.kind === 'secrets' ? 'secrets' : 'prompt injection';
}

export function GuardrailsTable(props: {
  guardrails: Guardrail[];
  servers: Server[];
  deletion: RowDeletion;
  onEdit: (g: Guardrail) => void;
}) {
  const columns: Column<Guardrail>[] = [
    { header: 'Name', cell: (g) => g.name, rowHeader: true },
    { header: 'Applies to', cell: (g) => scopeText(g, props.servers) },
    { header: 'Scans', cell: (g) => g.on.join(', ') },
    { header: 'Detectors', cell: (g) => g.detectors.map(detectorText).join('; ') },
    { header: 'Action', cell: (g) => g.action },
    { header: 'Mode', cell: (g) => (g.enforce ? 'enforced' : 'log only') },
  ];
  return (
    <ResourceTable
      rows={props.guardrails}
      columns={columns}
      caption="Guardrails of the workspace"
      empty="No guardrail: results and arguments pass as they are."
      actions={(g) => (
        <>
          <button type="button" className="secondary" aria-label={`Edit ${g.name}`} onClick={() => props.onEdit(g)}>
            Edit
          </button>
          <RowDeleteButton row={g} deletion={props.deletion} then="Its servers get a catalog version without it." />
        </>
      )}
    />
  );
}
