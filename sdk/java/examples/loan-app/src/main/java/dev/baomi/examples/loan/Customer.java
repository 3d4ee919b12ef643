package dev.baomi.examples.loan;

import dev.baomi.spring.Encrypted;
import dev.baomi.spring.SubjectId;

/**
 * A customer, as the platform's mapper reads and writes it. Two annotations are all it takes:
 * the table's {@code id_number} and {@code mobile} columns hold Baomi's ciphertexts, and the
 * objects the mapper returns hold the values in the view of the configured purpose.
 */
public class Customer {
  @SubjectId private String id;

  private String name;

  @Encrypted("id_number")
  private String idNumber;

  @Encrypted("mobile")
  private String mobile;

  public Customer() {}

  public Customer(String id, String name, String idNumber, String mobile) {
    this.id = id;
    this.name = name;
    this.idNumber = idNumber;
    this.mobile = mobile;
  }

  public String getId() {
    return id;
  }

  public void setId(String id) {
    this.id = id;
  }

  public String getName() {
    return name;
  }

  public void setName(String name) {
    this.name = name;
  }

  public String getIdNumber() {
    return idNumber;
  }

  public void setIdNumber(String idNumber) {
    this.idNumber = idNumber;
  }

  public String getMobile() {
    return mobile;
  }

  public void setMobile(String mobile) {
    this.mobile = mobile;
  }
}
