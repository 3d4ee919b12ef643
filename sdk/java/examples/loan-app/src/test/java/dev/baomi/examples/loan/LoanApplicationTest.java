package dev.baomi.examples.loan;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.baomi.client.BaomiClient;
import dev.baomi.client.ErrorCodes;
import dev.baomi.client.model.CreateKey;
import dev.baomi.client.model.Grant;
import dev.baomi.client.model.LegalBasis;
import dev.baomi.client.model.Level;
import dev.baomi.client.model.Permission;
import dev.baomi.client.model.PiCategory;
import dev.baomi.client.model.PurposeDefinition;
import dev.baomi.client.model.PurposeGrantBody;
import dev.baomi.client.model.Role;
import dev.baomi.client.model.ViewKind;
import dev.baomi.client.testing.LocalServer;
import dev.baomi.spring.BaomiFieldException;
import dev.baomi.spring.BaomiScope;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The example application against a real Baomi (the release binary SDK_SERVER_BIN names, on a
 * fresh database): its mapper writes ciphertexts and reads values masked or plain under a
 * purpose, and a withdrawn consent refuses the read.
 */
@SpringBootTest(properties = {"logging.level.root=warn", "spring.main.banner-mode=off"})
class LoanApplicationTest {
  private static LocalServer server;

  @Autowired CustomerMapper customers;
  @Autowired JdbcTemplate jdbc;
  @Autowired BaomiClient baomi;

  @DynamicPropertySource
  static void baomi(DynamicPropertyRegistry registry) {
    server = LocalServer.start((String) null);
    declare(server, registry);
  }

  /** Two purposes and a service key for this application, in {@code baomi.*}. */
  static void declare(LocalServer server, DynamicPropertyRegistry registry) {
    BaomiClient admin = BaomiClient.builder(server.base()).apiKey(server.adminKey()).build();
    admin.putPurpose(
        "loan_underwriting",
        PurposeDefinition.of(
            List.of(PiCategory.of(Level.C3, "id_number", true), PiCategory.of(Level.C2, "mobile", false)),
            "credit decisions",
            LegalBasis.CONTRACT,
            365L));
    admin.putPurpose(
        "marketing",
        PurposeDefinition.of(
            List.of(PiCategory.of(Level.C2, "mobile", false)), "offers by SMS", LegalBasis.CONSENT, 365L));
    String secret =
        admin
            .createKey(
                CreateKey.of("loan backend", Role.SERVICE)
                    .withGrants(
                        List.of(
                            PurposeGrantBody.of("loan_underwriting", List.of(ViewKind.MASKED, ViewKind.PLAIN)),
                            PurposeGrantBody.of("marketing", List.of(ViewKind.MASKED, ViewKind.PLAIN))))
                    .withPermissions(List.of(Permission.RECORD_CONSENT)))
            .secret();
    registry.add("baomi.url", server::base);
    registry.add("baomi.api-key", () -> secret);
  }

  @AfterAll
  static void stop() {
    server.close();
  }

  @Test
  void theTableHoldsCiphertextsAndTheMapperReadsMasked() {
    Customer written = new Customer("u-10086", "张三", "11010519491231002X", "13800138000");
    customers.insert(written);
    Map<String, Object> row = jdbc.queryForMap("SELECT * FROM customer WHERE id = 'u-10086'");
    assertTrue(row.get("ID_NUMBER").toString().startsWith("bm:v1:"), "the ID number is sealed");
    assertTrue(row.get("MOBILE").toString().startsWith("bm:v1:"), "the mobile is sealed");
    assertEquals("张三", row.get("NAME"), "other columns are as written");
    assertEquals("13800138000", written.getMobile(), "the caller's object keeps its plaintext");

    Customer read = customers.find("u-10086");
    assertEquals("138****8000", read.getMobile());
    assertNotEquals("11010519491231002X", read.getIdNumber());
    assertTrue(read.getIdNumber().contains("*"));
  }

  @Test
  void thePlainViewUnderThePurpose() {
    customers.insert(new Customer("u-10087", "李四", "11010519491231002X", "13900139000"));
    Customer read = BaomiScope.plain(() -> customers.find("u-10087"));
    assertEquals("11010519491231002X", read.getIdNumber());
    assertEquals("13900139000", read.getMobile());
    // Outside the scope, the configured view again.
    assertEquals("139****9000", customers.find("u-10087").getMobile());
  }

  @Test
  void anUpdateSealsTheNewValue() {
    customers.insert(new Customer("u-10088", "王五", "11010519491231002X", "13700137000"));
    Object before = jdbc.queryForObject("SELECT mobile FROM customer WHERE id = 'u-10088'", String.class);
    Customer changed = new Customer("u-10088", null, null, "13600136000");
    customers.updateMobile(changed);
    Object after = jdbc.queryForObject("SELECT mobile FROM customer WHERE id = 'u-10088'", String.class);
    assertNotEquals(before, after);
    assertTrue(after.toString().startsWith("bm:v1:"));
    assertEquals("13600136000", BaomiScope.plain(() -> customers.find("u-10088")).getMobile());
  }

  @Test
  void writingBackWhatWasShownKeepsTheData() {
    customers.insert(new Customer("u-10089", "郑十", "11010519491231002X", "13300133000"));
    String before = jdbc.queryForObject("SELECT mobile FROM customer WHERE id = 'u-10089'", String.class);
    Customer masked = customers.find("u-10089");
    assertEquals("133****3000", masked.getMobile());
    customers.updateMobile(masked);
    assertEquals(before, jdbc.queryForObject("SELECT mobile FROM customer WHERE id = 'u-10089'", String.class),
        "the masked value was not sealed as the new mobile");
    assertEquals("13300133000", BaomiScope.plain(() -> customers.find("u-10089")).getMobile());
  }

  @Test
  void aWithdrawnConsentRefusesTheRead() {
    customers.insert(new Customer("u-20001", "赵六", "11010519491231002X", "13500135000"));
    baomi.grantConsent("u-20001", Grant.of("app", "opt-in switch, off by default", "marketing"));
    Customer read = BaomiScope.under("marketing", ViewKind.PLAIN, () -> customers.find("u-20001"));
    assertEquals("13500135000", read.getMobile());
    assertNull(read.getIdNumber(), "marketing's categories do not cover the ID number");

    baomi.withdrawConsent("u-20001", "marketing");
    RuntimeException refused =
        assertThrows(RuntimeException.class, () -> BaomiScope.under("marketing", ViewKind.PLAIN, () -> customers.find("u-20001")));
    BaomiFieldException cause = causeOf(refused);
    assertEquals(ErrorCodes.CONSENT_WITHDRAWN, cause.code());
    assertEquals("mobile", cause.field());
  }

  @Test
  void aValueNotOfItsTypeIsRefusedAndNothingIsWritten() {
    RuntimeException refused =
        assertThrows(RuntimeException.class, () -> customers.insert(new Customer("u-30001", "钱七", "11010519491231002X", "not a phone")));
    BaomiFieldException cause = causeOf(refused);
    assertEquals(ErrorCodes.VAULT_INVALID_VALUE, cause.code());
    assertTrue(!cause.getMessage().contains("not a phone"), "the value is not in the error");
    assertEquals(0, jdbc.queryForObject("SELECT COUNT(*) FROM customer WHERE id = 'u-30001'", Integer.class));
  }

  @Test
  void manyRowsAreOpenedTogether() {
    customers.insert(new Customer("u-40001", "孙八", "11010519491231002X", "13800138001"));
    customers.insert(new Customer("u-40002", "周九", "11010519491231002X", "13800138002"));
    List<Customer> all = customers.all();
    assertTrue(all.size() >= 2);
    all.forEach(c -> assertTrue(c.getMobile().contains("*"), c.getId()));
  }

  static BaomiFieldException causeOf(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof BaomiFieldException f) {
        return f;
      }
    }
    throw new AssertionError("not refused by Baomi: " + t, t);
  }
}
