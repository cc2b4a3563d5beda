// The console's entry point (bundled by scripts/build-ui.mjs).
import { render } from 'preact';
import { App } from './app.js';
import './style.css';

render(<App />, document.getElementById('app')!);
