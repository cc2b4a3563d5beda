// Stylesheets are bundled by esbuild; importing one only has the side effect.
declare module '*.css';
