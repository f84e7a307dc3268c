"""The book's one Sphinx extension: glued tables are captioned and numbered as tables.

myst-nb pastes a glued table (a DataFrame or Styler) with ``{glue:figure}``, which Sphinx numbers
as a figure ("Fig. 3"). Given ``:figclass: table``, the figure becomes a :class:`glued_table`,
numbered with the tables ("Table 3", ``{numref}`` included) and rendered like a figure::

    ```{glue:figure} table_means
    :figclass: table
    :name: tbl-means

    Mean NMI over ranks ...
    ```

Enabled in ``_config.yml`` (``sphinx.extra_extensions``).
"""

from __future__ import annotations

from docutils import nodes
from sphinx.transforms import SphinxTransform

#: The ``:figclass:`` that makes a glued figure a table.
TABLE_CLASS = "table"


class glued_table(nodes.figure):  # noqa: N801  (docutils names nodes in lower case)
    """A glued table: a figure numbered and captioned as a table."""


class GluedTables(SphinxTransform):
    """Figures of class :data:`TABLE_CLASS` become :class:`glued_table` nodes, before Sphinx
    numbers them (the document's ids point at the new node, so ``{numref}`` resolves)."""

    default_priority = 10

    def apply(self, **kwargs):
        for figure in list(self.document.findall(nodes.figure)):
            if TABLE_CLASS in figure.get("classes", []) and not isinstance(figure, glued_table):
                table = glued_table(figure.rawsource, *figure.children, **figure.attributes)
                figure.replace_self(table)
                for node_id in table["ids"]:
                    self.document.ids[node_id] = table


def _visit(translator, node):
    translator.visit_figure(node)


def _depart(translator, node):
    translator.depart_figure(node)


def setup(app):
    app.add_enumerable_node(glued_table, "table", html=(_visit, _depart),
                            latex=(_visit, _depart), text=(_visit, _depart))
    app.add_transform(GluedTables)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
