// The shadow tables a rebuild fills: created like the live ones (storage
// settings, row-level security) without their indexes, which are built
// after the copy under the same definitions.

package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// createShadows creates an empty shadow copy of every table, without
// indexes, after dropping what a rebuild that did not finish left of
// them (the rebuild lock keeps a running one's from being dropped).
func createShadows(ctx context.Context, conn *pgx.Conn, tables []TableInfo) error {
	dropShadows(ctx, conn, tables)
	for _, t := range tables {
		shadow, live := pgx.Identifier{Shadow(t.Name)}.Sanitize(), pgx.Identifier{t.Name}.Sanitize()
		if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)`,
			shadow, live)); err != nil {
			return fmt.Errorf("projections: shadow of %s: %w", t.Name, err)
		}
		// Storage parameters (fillfactor) are not part of LIKE.
		var opts []string
		if err := conn.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = $1::regclass`,
			t.Name).Scan(&opts); err != nil {
			return err
		}
		// Autovacuum stays off the copy until the swap (which gives the
		// table the live one's setting back): started on a copy just
		// filled, it held up the swap's renames for a second a table,
		// until PostgreSQL cancelled it, while the swap held every
		// projector's checkpoint (4–6 s on a 4.5M-event log).
		opts = slices.DeleteFunc(opts, func(o string) bool { return strings.HasPrefix(o, "autovacuum_enabled=") })
		opts = append(opts, "autovacuum_enabled = false", "toast.autovacuum_enabled = false")
		if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER TABLE %s SET (%s)`, shadow, strings.Join(opts, ", "))); err != nil {
			return fmt.Errorf("projections: storage of the shadow of %s: %w", t.Name, err)
		}
		// Nor are row-level security and privileges: a rebuilt read model
		// must confine the reader role as the old one did (migrations/00060).
		stmts, err := securityOf(ctx, conn, t.Name, shadow)
		if err != nil {
			return fmt.Errorf("projections: security of %s: %w", t.Name, err)
		}
		for _, st := range stmts {
			if _, err := conn.Exec(ctx, st); err != nil {
				return fmt.Errorf("projections: security of the shadow of %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

// securityOf returns the statements that give target (a sanitized name)
// the row-level security of the relation rel (whether it is enabled or
// forced, and every policy) and its privileges (what rel's owner granted
// others). CREATE TABLE LIKE copies none of them; the policies and
// grants of migrations/00060 must survive a rebuild. The owner bypasses
// RLS unless it is forced, so the rebuild's own writes are not filtered.
func securityOf(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, rel, target string) ([]string, error) {
	rows, err := q.Query(ctx, `
		SELECT format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', $2::text) FROM pg_class WHERE oid = $1::regclass AND relrowsecurity
		UNION ALL
		SELECT format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', $2::text) FROM pg_class WHERE oid = $1::regclass AND relforcerowsecurity
		UNION ALL
		SELECT format('CREATE POLICY %I ON %s AS %s FOR %s TO %s%s%s', p.polname, $2::text,
		       CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
		       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
		       (SELECT string_agg(CASE WHEN r = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(r)) END, ', ')
		        FROM unnest(p.polroles) r),
		       ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')',
		       ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')')
		FROM pg_policy p WHERE p.polrelid = $1::regclass
		UNION ALL
		SELECT format('GRANT %s ON %s TO %s%s', a.privilege_type, $2::text,
		       CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
		       CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
		FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1::regclass AND a.grantee <> c.relowner`, rel, target)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// viewDef is a view to recreate: its name (sanitized), its query, its
// options and the statements of securityOf.
type viewDef struct {
	name, query, options string
	security             []string
}

// dependentViews returns the views that read table (the searches' views
// of migrations/00060). DROP TABLE refuses to drop a table that views
// read, and a view is bound to its table, not to its name: swapping a
// table in means dropping its views and creating them again on the new
// table.
func dependentViews(ctx context.Context, tx pgx.Tx, table string) ([]viewDef, error) {
	rows, err := tx.Query(ctx, `
		SELECT DISTINCT v.oid::regclass::text, pg_get_viewdef(v.oid), coalesce(array_to_string(v.reloptions, ', '), '')
		FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
		WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
		  AND d.refobjid = $1::regclass AND v.oid <> $1::regclass AND v.relkind = 'v'`, table)
	if err != nil {
		return nil, err
	}
	views, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (viewDef, error) {
		var v viewDef
		return v, r.Scan(&v.name, &v.query, &v.options)
	})
	if err != nil {
		return nil, err
	}
	for i := range views {
		if views[i].security, err = securityOf(ctx, tx, views[i].name, views[i].name); err != nil {
			return nil, err
		}
	}
	return views, nil
}

// dropShadows drops the shadow copies of tables, and what a swap that
// could not drop them left of the tables it replaced.
func dropShadows(ctx context.Context, conn *pgx.Conn, tables []TableInfo) {
	for _, t := range tables {
		_, _ = conn.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS %s, %s`,
			pgx.Identifier{Shadow(t.Name)}.Sanitize(), pgx.Identifier{retired(t.Name)}.Sanitize()))
	}
}

type indexDef struct {
	name, def string
	primary   bool
	columns   string
}

func indexesOf(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, table string) ([]indexDef, error) {
	rows, err := q.Query(ctx, `
		SELECT i.relname, pg_get_indexdef(i.oid), x.indisprimary,
		       coalesce((SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n)
		                 FROM unnest(x.indkey) WITH ORDINALITY k(attnum, n)
		                 JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum), '')
		FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
		WHERE x.indrelid = $1::regclass ORDER BY i.relname`, table)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (indexDef, error) {
		var d indexDef
		return d, r.Scan(&d.name, &d.def, &d.primary, &d.columns)
	})
}

// shadowIndexDef rewrites `CREATE INDEX name ON public.table USING …` for
// the shadow table.
func shadowIndexDef(ix indexDef, table string) (string, error) {
	head, rest, ok := strings.Cut(ix.def, " ON ")
	if !ok {
		return "", errors.New("projections: unexpected index definition: " + ix.def)
	}
	head = strings.Replace(head, " "+ix.name, " "+pgx.Identifier{ix.name + shadowSuffix}.Sanitize(), 1)
	target, tail, ok := strings.Cut(rest, " ")
	if !ok || (target != table && !strings.HasSuffix(target, "."+table)) {
		return "", errors.New("projections: unexpected index target: " + ix.def)
	}
	return head + " ON " + pgx.Identifier{Shadow(table)}.Sanitize() + " " + tail, nil
}
