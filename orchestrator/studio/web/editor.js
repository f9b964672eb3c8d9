// The studio's code editor: CodeMirror 6 with YAML highlighting and a lint gutter. The page
// (../static/app.js) owns the problems: it hands them over with setProblems and they show
// as diagnostics at their lines.
import { EditorView, basicSetup } from "codemirror";
import { yaml } from "@codemirror/lang-yaml";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";

export function createEditor(parent, text, onChange) {
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        basicSetup,
        yaml(),
        lintGutter(),
        EditorView.lineWrapping,
        EditorView.updateListener.of((update) => {
          if (update.docChanged) onChange(update.state.doc.toString());
        }),
      ],
    }),
  });
  return view;
}

export function getText(view) {
  return view.state.doc.toString();
}

export function setText(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

// problems: [{line, column, message}], 1-based, as the server's loader reports them.
export function setProblems(view, problems) {
  const doc = view.state.doc;
  const diagnostics = problems.map((p) => {
    const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
    const from = Math.min(line.from + Math.max(p.column - 1, 0), line.to);
    return { from, to: line.to > from ? line.to : from, severity: "error", message: p.message };
  });
  view.dispatch(setDiagnostics(view.state, diagnostics));
}

export function goToLine(view, lineNumber) {
  const doc = view.state.doc;
  const line = doc.line(Math.min(Math.max(lineNumber, 1), doc.lines));
  view.dispatch({ selection: { anchor: line.from }, scrollIntoView: true });
  view.focus();
}
