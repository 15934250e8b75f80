// A destructive button that asks first.
export function ConfirmButton({ question, onConfirm, children }: { question: string; onConfirm: () => void; children: React.ReactNode }) {
  return (
    <button
      type="button"
      className="danger"
      onClick={() => {
        if (window.confirm(question)) onConfirm();
      }}
    >
      {children}
    </button>
  );
}
