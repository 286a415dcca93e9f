// Two fixes of the API site's text, as a local typedoc plugin (typedoc.json's "plugin"):
//
// 1. A heading with inline code (`## 3. \`init\`: the data decides…`) lost the code from the page's
//    table of contents and its anchor ("3. : the data decides…"): typedoc reads a heading's text
//    from its text tokens only. Each code span of a heading becomes <code>, its text, </code>, so
//    it still renders as code and the contents and anchor keep its text.
// 2. Guides are listed in typedoc.json's order (lazy initialization first), so every docs/*.md
//    must be listed there: a guide that is not is an error here, not a page silently missing.
// 3. The index page showed "flaxen" twice: typedoc's page title (the project name) and the
//    README's own first heading. The README's first heading is left out of the index page.
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { MarkdownEvent, RendererEvent } from 'typedoc';

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on('begin', () => {
    const listed = new Set(app.options.getValue('projectDocuments').map((file) => resolve(file)));
    const missing = readdirSync('docs').filter((file) => file.endsWith('.md') && !listed.has(resolve('docs', file)));
    if (missing.length) {
      throw new Error(`typedoc-plugin: add ${missing.map((file) => `docs/${file}`).join(', ')} to "projectDocuments" in typedoc.json (in reading order)`);
    }
  });
  // After typedoc's own BEGIN listener has made the markdown parser (lower priority runs later).
  app.renderer.on(RendererEvent.BEGIN, () => {
    const parser = app.renderer.markedPlugin.parser;
    if (!parser) throw new Error('typedoc-plugin: typedoc has no markdown parser at render start');
    parser.core.ruler.push('flaxen-heading-code', (state) => {
      state.tokens.forEach((token, i) => {
        const inline = state.tokens[i + 1];
        if (token.type !== 'heading_open' || inline?.type !== 'inline' || !inline.children) return;
        inline.children = inline.children.flatMap((child) => {
          if (child.type !== 'code_inline') return [child];
          const open = new state.Token('html_inline', '', 0);
          open.content = '<code>';
          const text = new state.Token('text', '', 0);
          text.content = child.content;
          const close = new state.Token('html_inline', '', 0);
          close.content = '</code>';
          return [open, text, close];
        });
      });
    });
  }, -100);

  app.renderer.on(MarkdownEvent.PARSE, (event) => {
    if (event.page.url !== 'index.html') return;
    const name = app.options.getValue('name');
    event.parsedText = event.parsedText.replace(new RegExp(`^\\s*<h1[^>]*>${name}(<a [^]*?</a>)?</h1>\\s*`), '');
  }, -100);
}
